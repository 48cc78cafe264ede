import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { createToken, openDatabase } from "@seg/runtime";
import { runCli } from "../support/memory-io.js";

const root = fileURLToPath(new URL("../../../../", import.meta.url));
const bin = join(root, "packages/cli/dist/bin.js");
const databaseUrl = process.env["SEG_DATABASE_URL"] ?? "postgres://127.0.0.1:5432/test";

describe("start-up cost of the serving code", () => {
  const tracer = fileURLToPath(new URL("../support/trace-imports.mjs", import.meta.url));
  const loadedBy = (args: string[]) => {
    const file = join(mkdtempSync(join(tmpdir(), "seg-trace-")), "modules.txt");
    const r = spawnSync(process.execPath, ["--import", tracer, bin, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, SEG_TRACE_IMPORTS: file } });
    expect(r.status, r.stderr).toBe(0);
    return readFileSync(file, "utf8").split("\n").filter(Boolean);
  };
  it("seg check and seg serve --help load no fastify, ws, prom-client, pg or ioredis", () => {
    for (const args of [["check", "examples"], ["serve", "--help"], ["token", "create", "--help"]]) {
      const heavy = loadedBy(args).filter((u) => /node_modules\/(\.pnpm\/)?(fastify|@fastify|ws|prom-client|pg|pg-[a-z]+|ioredis|kafkajs)[@/]/.test(u));
      expect(heavy, args.join(" ")).toEqual([]);
    }
  });
});

describe("seg serve (the built binary)", () => {
  const schema = `seg_test_${randomBytes(5).toString("hex")}`;
  let child: ChildProcess | undefined;
  afterAll(async () => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    const db = await openDatabase({ url: databaseUrl, schema });
    await db.client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.close();
  });

  it("starts, says where it listens, serves with a token, and stops on SIGTERM", async () => {
    child = spawn(process.execPath, [bin, "serve", "--port", "0", "--redis-prefix", `segtest:${randomBytes(3).toString("hex")}:`], {
      cwd: root,
      env: { ...process.env, SEG_DATABASE_URL: databaseUrl, SEG_DB_SCHEMA: schema },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child!.on("exit", (code) => r(code)));
    const deadline = Date.now() + 30_000;
    // stdout and stderr are separate pipes: either line may arrive first.
    while (!/listening on (http:\/\/\S+)/.test(out) || !err.includes("note: no tokens exist yet")) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no start: ${out} ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const base = /listening on (http:\/\/\S+)/.exec(out)![1]!;
    expect(out).toContain(`schema ${schema}`);
    expect(err).toContain("note: no tokens exist yet");

    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: "ok" });
    expect((await fetch(`${base}/v1/segments`)).status).toBe(401);
    const db = await openDatabase({ url: databaseUrl, schema });
    const { token } = await createToken(db, { name: "cli-consumer", role: "consumer", actor: "t", via: "test" });
    await db.close();
    // The server hears of the new token (NOTIFY) without a restart.
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await fetch(`${base}/v1/segments`, { headers: { authorization: `Bearer ${token}` } })).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(200);

    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(out).toContain("seg serve: shutting down\n");
  }, 60_000);

  it("rejects a bad port or prefix with exit 2", async () => {
    expect(await runCli(["serve", "--port", "http"], { cwd: root, env: {} })).toMatchObject({ code: 2, stderr: "seg serve: invalid --port 'http'\n" });
    expect(await runCli(["serve", "--port", "70000"], { cwd: root, env: {} })).toMatchObject({ code: 2 });
    expect(await runCli(["serve", "--redis-prefix", "a b"], { cwd: root, env: {} })).toMatchObject({ code: 2 });
  });

  it("exits 1 naming the problem when PostgreSQL is unreachable", async () => {
    const r = await runCli(["serve", "--port", "0"], { cwd: root, env: { SEG_DATABASE_URL: "postgres://seg:secret@127.0.0.1:1/nowhere" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^seg serve: cannot start: cannot connect to PostgreSQL at postgres:\/\/seg:\*\*\*@127\.0\.0\.1:1\/nowhere: /);
    expect(r.stderr).not.toContain("secret");
  });
});
