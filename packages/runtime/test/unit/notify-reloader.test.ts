import { describe, expect, it, vi } from "vitest";
import { NotifyReloader } from "../../src/db/notify-reloader.js";

/** A load that waits until released, counting calls. */
function gatedLoad() {
  let calls = 0;
  let release: (() => void) | undefined;
  const load = async () => {
    calls++;
    await new Promise<void>((r) => (release = r));
  };
  return {
    load,
    calls: () => calls,
    release: async () => {
      const r = release;
      release = undefined;
      r?.();
      await new Promise((res) => setImmediate(res));
    },
  };
}

describe("NotifyReloader", () => {
  it("shares one load between concurrent reloads, and loads once more for reloads asked during a load", async () => {
    const g = gatedLoad();
    const r = new NotifyReloader(g.load, { refreshMs: 60_000 });
    const first = r.reload();
    const during = [r.reload(), r.reload(), r.reload()];
    expect(g.calls()).toBe(1);
    await g.release();
    // The reloads asked during the first load cause exactly one more (the change they announce may be newer).
    expect(g.calls()).toBe(2);
    let settled = false;
    void Promise.all([first, ...during]).then(() => (settled = true));
    await new Promise((res) => setImmediate(res));
    expect(settled).toBe(false);
    await g.release();
    await Promise.all([first, ...during]);
    expect(g.calls()).toBe(2);
    // Idle again: the next reload loads again.
    const next = r.reload();
    expect(g.calls()).toBe(3);
    await g.release();
    await next;
  });

  it("reports a failed load and keeps going; reload never rejects", async () => {
    const errors: unknown[] = [];
    let n = 0;
    const r = new NotifyReloader(
      async () => {
        if (++n === 1) throw new Error("db down");
      },
      { refreshMs: 60_000, onError: (e) => errors.push(e) },
    );
    await expect(r.reload()).resolves.toBeUndefined();
    expect(errors.map((e) => (e as Error).message)).toEqual(["db down"]);
    await r.reload();
    expect(n).toBe(2);
    expect(errors).toHaveLength(1);
  });

  it("loads at start, then every refreshMs until stopped", async () => {
    vi.useFakeTimers();
    try {
      let n = 0;
      const r = new NotifyReloader(async () => void n++, { refreshMs: 1_000 });
      await r.start();
      expect(n).toBe(1);
      await vi.advanceTimersByTimeAsync(3_500);
      expect(n).toBe(4);
      r.stop();
      await vi.advanceTimersByTimeAsync(5_000);
      expect(n).toBe(4);
    } finally {
      vi.useRealTimers();
    }
  });
});
