/**
 * An ingester in a child process (so a test can kill it with SIGKILL), running the BUILT
 * @seg/runtime and @seg/compiler (`pnpm build` first; the tests check the build is not older than
 * the sources). SIGTERM stops it cleanly.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { SchemaSource } from "@seg/compiler";

const runtimeDir = fileURLToPath(new URL("../../", import.meta.url));
const compilerDir = fileURLToPath(new URL("../../../compiler/", import.meta.url));

/** What the child needs. */
export interface ChildConfig {
  brokers: string[];
  groupId: string;
  deadLetterTopic: string;
  sources: SchemaSource[];
  databaseUrl: string;
  schema: string;
  maxBytesPerPartition?: number;
  partitionsConsumedConcurrently?: number;
  /** SIGKILL itself at its n-th batch, just before committing it (after progress was written) or just after. */
  crash?: { at: "beforeCommit" | "afterCommit"; batch: number };
}

const SCRIPT = `
const cfg = JSON.parse(process.env.SEG_INGEST_CHILD);
const runtime = await import(cfg.runtimeUrl);
const compiler = await import(cfg.compilerUrl);
const { registry } = compiler.buildSchemaRegistry(cfg.sources);
const db = await runtime.openDatabase({ url: cfg.databaseUrl, schema: cfg.schema, applicationName: "seg-test-ingest-child" });
let batches = 0;
const ingestion = await runtime.startIngestion({
  brokers: cfg.brokers,
  groupId: cfg.groupId,
  registry,
  deadLetterTopic: cfg.deadLetterTopic,
  db,
  sessionTimeoutMs: 6000,
  maxBytesPerPartition: cfg.maxBytesPerPartition,
  partitionsConsumedConcurrently: cfg.partitionsConsumedConcurrently,
  log: (level, message) => process.stderr.write(new Date().toISOString() + " " + level + " " + message + "\\n"),
  onBatch: (b) => process.stderr.write(new Date().toISOString() + " batch " + b.topic.slice(-10) + "[" + b.partition + "] " + b.firstOffset + ".." + b.lastOffset + " n=" + b.received + "\\n"),
  hooks: cfg.crash
    ? { [cfg.crash.at]: () => { if (++batches === cfg.crash.batch) { process.stdout.write("crashing " + cfg.crash.at + "\\n"); process.kill(process.pid, "SIGKILL"); } } }
    : undefined,
});
process.stdout.write("started\\n");
process.on("SIGTERM", () => {
  ingestion.stop().then(() => db.close()).then(() => process.exit(0), (e) => { process.stderr.write(String(e) + "\\n"); process.exit(1); });
});
`;

/** Throws when a built file of ingestion is older than its source (run `pnpm build`). */
export function assertBuilt(): void {
  const src = join(runtimeDir, "src", "ingest");
  for (const f of readdirSync(src).filter((x) => x.endsWith(".ts"))) {
    const built = join(runtimeDir, "dist", "ingest", f.replace(/\.ts$/, ".js"));
    let stale: boolean;
    try {
      stale = statSync(built).mtimeMs < statSync(join(src, f)).mtimeMs;
    } catch {
      stale = true;
    }
    if (stale) throw new Error(`packages/runtime/dist/ingest/${f.replace(/\.ts$/, ".js")} is missing or older than its source: run \`pnpm build\` first`);
  }
}

/** A running child ingester. */
export class ChildIngester {
  readonly process: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly dir: string;

  constructor(config: ChildConfig) {
    this.dir = mkdtempSync(join(tmpdir(), "seg-ingest-child-"));
    const script = join(this.dir, "child.mjs");
    writeFileSync(script, SCRIPT);
    const env = {
      ...process.env,
      SEG_INGEST_CHILD: JSON.stringify({
        ...config,
        runtimeUrl: pathToFileURL(join(runtimeDir, "dist", "index.js")).href,
        compilerUrl: pathToFileURL(join(compilerDir, "dist", "index.js")).href,
      }),
    };
    this.process = spawn(process.execPath, [script], { env, stdio: ["ignore", "pipe", "pipe"] });
    this.process.stdout!.on("data", (d: Buffer) => (this.stdout += d.toString()));
    this.process.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.process.once("exit", (code, signal) => resolve({ code, signal })));
    void this.exited.then(() => rmSync(this.dir, { recursive: true, force: true }));
  }

  /** kill -9. */
  async kill(): Promise<void> {
    this.process.kill("SIGKILL");
    await this.exited;
  }

  /** SIGTERM, then the exit status (a clean stop exits 0). */
  async stop(timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.process.kill("SIGTERM");
    const timer = setTimeout(() => this.process.kill("SIGKILL"), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
