/**
 * The watcher: which pipelines are active, kept current without a restart.
 *
 * - It subscribes first (`LISTEN <schema>_pipelines` on a connection of its own; every deploy and
 *   rollback notifies on commit), then reads the current state, so no deploy can fall between the
 *   read and the subscription.
 * - A notification triggers a read (reads never overlap: one more follows when notifications came
 *   in during a read). A periodic poll reads too, so a missed notification (a dropped connection,
 *   a change made without NOTIFY) is picked up within one poll interval.
 * - When the LISTEN connection drops, it reconnects with exponential backoff, subscribes again and
 *   reads the state (whatever changed meanwhile is seen then).
 * - `onChange` gets the whole set of active pipelines whenever it changes (a pipeline added, a new
 *   current version, a pipeline retired), and once at start.
 */
import { EventEmitter } from "node:events";
import type { Notification } from "pg";
import { openDatabase, quoteIdent, type SegDb } from "../db/connection.js";
import { notifyChannel } from "../deploy/store.js";
import type { RunnerMetrics } from "../metrics/runner-metrics.js";
import { diffPipelines, isNoChange, readActivePipelines, type ActivePipeline, type PipelineChange } from "./active-pipelines.js";
import { errorMessage, silentLog, type RunnerLog } from "./log.js";

/** Why the state was read. */
export type ReloadReason = "start" | "notify" | "poll" | "reconnect" | "manual";

/** Options of {@link startWatcher}. */
export interface WatcherOptions {
  databaseUrl: string;
  schema: string;
  /** Called with every active pipeline at start and whenever the set changes. */
  onChange: (pipelines: readonly ActivePipeline[], change: PipelineChange & { reason: ReloadReason }) => void;
  /** How often to read the state anyway (default 5 s; 0 = never). */
  pollIntervalMs?: number;
  /** First and longest wait between reconnection attempts (defaults 100 ms and 5 s). */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  log?: RunnerLog;
  metrics?: RunnerMetrics;
  applicationName?: string;
}

/** A running watcher. */
export interface Watcher {
  /** The active pipelines as last read. */
  current(): readonly ActivePipeline[];
  /** Reads the state now (resolves when read). */
  refresh(): Promise<void>;
  /** True while the LISTEN connection is up. */
  connected(): boolean;
  /** The backend pid of the LISTEN connection (tests terminate it), or undefined while disconnected. */
  backendPid(): number | undefined;
  /** Emits `change` (pipelines, change), `connected`, `disconnected` (error), `error` (error). */
  readonly events: EventEmitter;
  stop(): Promise<void>;
}

/** Starts watching; resolves after the first read (rejects when the database cannot be reached). */
export async function startWatcher(options: WatcherOptions): Promise<Watcher> {
  const log = options.log ?? silentLog;
  const channel = notifyChannel(options.schema);
  const pollMs = options.pollIntervalMs ?? 5_000;
  const minDelay = options.reconnectMinMs ?? 100;
  const maxDelay = options.reconnectMaxMs ?? 5_000;
  const events = new EventEmitter();
  // An `error` event without listeners would throw.
  events.on("error", () => {});

  let db: SegDb | undefined;
  let pid: number | undefined;
  let pipelines: readonly ActivePipeline[] = [];
  let stopped = false;
  let pollTimer: NodeJS.Timeout | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let reconnecting = false;
  let reading: Promise<void> | undefined;
  let again: ReloadReason | undefined;

  const connect = async (): Promise<SegDb> => {
    const conn = await openDatabase({ url: options.databaseUrl, schema: options.schema, applicationName: options.applicationName ?? "seg runtime watcher" });
    conn.client.on("notification", (n: Notification) => {
      if (n.channel !== channel) return;
      log("debug", `deploy notification on ${channel}`, { payload: n.payload });
      void reload("notify");
    });
    const dropped = (e?: Error) => {
      if (db !== conn || stopped) return;
      db = undefined;
      pid = undefined;
      options.metrics?.watcherErrors.inc();
      log("warn", `the watcher's LISTEN connection dropped${e ? `: ${e.message}` : ""}; reconnecting`);
      events.emit("disconnected", e);
      void conn.close();
      scheduleReconnect(minDelay);
    };
    conn.client.on("error", dropped);
    conn.client.on("end", () => dropped());
    try {
      await conn.client.query(`LISTEN ${quoteIdent(channel)}`);
      const r = await conn.client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      pid = r.rows[0]?.pid;
    } catch (e) {
      await conn.close();
      throw e;
    }
    return conn;
  };

  const scheduleReconnect = (delay: number) => {
    if (stopped || reconnecting) return;
    reconnecting = true;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      connect()
        .then((conn) => {
          reconnecting = false;
          if (stopped) {
            void conn.close();
            return;
          }
          db = conn;
          log("info", `the watcher is listening on ${channel} again`);
          events.emit("connected");
          void reload("reconnect");
        })
        .catch((e: unknown) => {
          reconnecting = false;
          options.metrics?.watcherErrors.inc();
          const next = Math.min(maxDelay, delay * 2);
          log("warn", `the watcher cannot reconnect: ${errorMessage(e)}; next try in ${next} ms`);
          scheduleReconnect(next);
        });
    }, delay);
  };

  const readOnce = async (reason: ReloadReason): Promise<void> => {
    const conn = db;
    if (conn === undefined) return; // a reconnection reads when it is back
    options.metrics?.watcherReloads.inc({ reason });
    let next: ActivePipeline[];
    try {
      next = await readActivePipelines(conn);
    } catch (e) {
      options.metrics?.watcherErrors.inc();
      if (reason === "start") throw e;
      log("warn", `the watcher could not read the pipelines (${reason}): ${errorMessage(e)}`);
      events.emit("error", e);
      return;
    }
    const change = diffPipelines(pipelines, next);
    const first = reason === "start";
    pipelines = next;
    options.metrics?.activePipelines.set(next.length);
    if (!first && isNoChange(change)) return;
    log("info", `pipelines ${first ? "loaded" : "changed"} (${reason}): ${next.length} active${first ? "" : `; added ${change.added.length}, changed ${change.changed.length}, retired ${change.removed.length}`}`, {
      ...change,
    });
    const full = { ...change, reason };
    events.emit("change", next, full);
    try {
      options.onChange(next, full);
    } catch (e) {
      log("error", `a pipeline change handler failed: ${errorMessage(e)}`);
    }
  };

  /** Reads the state; a call while a read runs makes one more read follow it. */
  const reload = (reason: ReloadReason): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (reading) {
      again = reason;
      return reading;
    }
    reading = (async () => {
      try {
        let r: ReloadReason | undefined = reason;
        while (r !== undefined && !stopped) {
          again = undefined;
          await readOnce(r);
          r = again;
        }
      } finally {
        reading = undefined;
      }
    })();
    return reading;
  };

  db = await connect();
  try {
    await readOnce("start");
  } catch (e) {
    stopped = true;
    await db.close();
    throw e;
  }
  if (pollMs > 0) {
    pollTimer = setInterval(() => void reload("poll"), pollMs);
    pollTimer.unref();
  }

  return {
    current: () => pipelines,
    refresh: () => reload("manual"),
    connected: () => db !== undefined,
    backendPid: () => pid,
    events,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (pollTimer) clearInterval(pollTimer);
      if (reconnectTimer) clearTimeout(reconnectTimer);
      await reading?.catch(() => {});
      const conn = db;
      db = undefined;
      await conn?.close();
    },
  };
}
