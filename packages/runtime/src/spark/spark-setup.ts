/**
 * Where the local Spark installation of seg lives, and whether it is there: the driver jar, the
 * classpath of Spark's jars (in ~/.m2) and the JVM options, all written by `infra/spark/setup.sh`.
 *
 * Lookup order: `SEG_SPARK_HOME` (a folder written by setup.sh), else `<repo>/infra/spark/.work`
 * where `<repo>` is found relative to this module. `SEG_SPARK_JAR` and `SEG_SPARK_CLASSPATH`
 * (`:`-separated jars, or `@file` holding them) override single parts; `SEG_JAVA` (else
 * `$JAVA_HOME/bin/java`, else `java`) picks the JVM.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** What {@link ensureSpark} found. */
export interface SparkSetup {
  /** True when the driver can be started. */
  ready: boolean;
  /** The folder setup.sh writes to. */
  home: string;
  jar: string;
  /** Spark's jars, `:`-separated (empty when unknown). */
  classpath: string;
  java: string;
  /** JVM options for local runs (module opens for Java 17, UTC). */
  jvmOptions: string[];
  /** The log4j2 configuration for local runs, if found. */
  log4jConfig: string | undefined;
  sparkVersion: string | undefined;
  /** The repository root, when this module runs from a checkout. */
  repoRoot: string | undefined;
  /** Why it is not ready (or what looks stale). */
  problems: string[];
  /** The command that makes it ready. */
  setupCommand: string;
}

/** The JVM options Spark 4 needs on Java 17+ (as spark-submit's launcher adds them), plus UTC. */
export const DEFAULT_SPARK_JVM_OPTIONS: readonly string[] = [
  "-XX:+IgnoreUnrecognizedVMOptions",
  "--add-modules=jdk.incubator.vector",
  ...[
    "java.lang",
    "java.lang.invoke",
    "java.lang.reflect",
    "java.io",
    "java.net",
    "java.nio",
    "java.util",
    "java.util.concurrent",
    "java.util.concurrent.atomic",
    "jdk.internal.ref",
    "sun.nio.ch",
    "sun.nio.cs",
    "sun.security.action",
    "sun.util.calendar",
  ].map((p) => `--add-opens=java.base/${p}=ALL-UNNAMED`),
  "--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
  "-Djdk.reflect.useDirectMethodHandle=false",
  "-Dio.netty.tryReflectionSetAccessible=true",
  "--enable-native-access=ALL-UNNAMED",
  "-Duser.timezone=UTC",
  "-Dfile.encoding=UTF-8",
];

/** The repository root when this module sits in `<repo>/packages/runtime/{src,dist}/spark/`. */
export function findRepoRoot(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = resolve(here, "../../../..");
  return existsSync(join(root, "infra", "spark", "setup.sh")) ? root : undefined;
}

function readOptionsFile(file: string): string[] | undefined {
  if (!existsSync(file)) return undefined;
  return readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

function javaBinary(env: Record<string, string | undefined>): string {
  if (env["SEG_JAVA"]) return env["SEG_JAVA"];
  if (env["JAVA_HOME"] && existsSync(join(env["JAVA_HOME"], "bin", "java"))) return join(env["JAVA_HOME"], "bin", "java");
  return "java";
}

/** Newest modification time (ms) of the files under `dir`. */
function newestMtime(dir: string): number {
  let newest = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  if (existsSync(dir)) walk(dir);
  return newest;
}

/** Tells whether the local Spark setup is there (and how to make it so). Never throws. */
export function ensureSpark(env: Record<string, string | undefined> = process.env): SparkSetup {
  const repoRoot = findRepoRoot();
  const home = env["SEG_SPARK_HOME"] ? resolve(env["SEG_SPARK_HOME"]) : repoRoot ? join(repoRoot, "infra", "spark", ".work") : resolve("infra/spark/.work");
  const jar = env["SEG_SPARK_JAR"] ? resolve(env["SEG_SPARK_JAR"]) : join(home, "seg-spark-driver.jar");
  const problems: string[] = [];
  const setupCommand = repoRoot ? `bash ${join(repoRoot, "infra", "spark", "setup.sh")}` : "bash infra/spark/setup.sh";

  let classpath = "";
  const cpEnv = env["SEG_SPARK_CLASSPATH"];
  const cpFile = cpEnv?.startsWith("@") ? cpEnv.slice(1) : cpEnv ? undefined : join(home, "classpath.txt");
  if (cpEnv && !cpEnv.startsWith("@")) classpath = cpEnv.trim();
  else if (cpFile && existsSync(cpFile)) classpath = readFileSync(cpFile, "utf8").trim();
  else problems.push(`no Spark classpath (${cpFile ?? "SEG_SPARK_CLASSPATH"} is missing)`);
  if (!existsSync(jar)) problems.push(`no driver jar at ${jar}`);
  if (classpath !== "") {
    const missing = classpath.split(":").find((p) => p !== "" && !existsSync(p));
    if (missing) problems.push(`a Spark jar is gone from the Maven cache: ${missing}`);
  }
  if (repoRoot && existsSync(jar) && !env["SEG_SPARK_JAR"]) {
    const built = statSync(jar).mtimeMs;
    const sources = Math.max(newestMtime(join(repoRoot, "jvm", "spark-driver", "src")), statSync(join(repoRoot, "jvm", "spark-driver", "pom.xml")).mtimeMs);
    if (sources > built) problems.push("the driver sources changed since the jar was built");
  }
  const jvmOptions =
    readOptionsFile(join(home, "jvm.options")) ?? (repoRoot ? readOptionsFile(join(repoRoot, "infra", "spark", "jvm.options")) : undefined) ?? [...DEFAULT_SPARK_JVM_OPTIONS];
  const log4j = [join(home, "log4j2.properties"), ...(repoRoot ? [join(repoRoot, "infra", "spark", "log4j2.properties")] : [])].find((f) => existsSync(f));
  const versionFile = join(home, "spark-version");
  return {
    ready: problems.length === 0,
    home,
    jar,
    classpath,
    java: javaBinary(env),
    jvmOptions,
    log4jConfig: log4j,
    sparkVersion: existsSync(versionFile) ? readFileSync(versionFile, "utf8").trim() : undefined,
    repoRoot,
    problems,
    setupCommand,
  };
}

/**
 * Runs `infra/spark/setup.sh` (fetches Spark with Maven, builds the driver; quick when nothing
 * changed) and returns the setup it produced. Rejects when the script fails or is not found.
 */
export async function setupSpark(options: { onLog?: (line: string) => void; env?: Record<string, string | undefined> } = {}): Promise<SparkSetup> {
  const env = options.env ?? process.env;
  const root = findRepoRoot();
  if (!root) throw new Error("infra/spark/setup.sh not found: set SEG_SPARK_HOME to a folder prepared by it");
  const log: string[] = [];
  const code = await new Promise<number>((resolvePromise, reject) => {
    const child = spawn("bash", [join(root, "infra", "spark", "setup.sh")], { cwd: root, env: env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() === "") continue;
        log.push(line);
        options.onLog?.(line);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", reject);
    child.on("close", (c) => resolvePromise(c ?? 1));
  });
  if (code !== 0) throw new Error(`infra/spark/setup.sh failed (exit ${code}):\n${log.slice(-20).join("\n")}`);
  const setup = ensureSpark(env);
  if (!setup.ready) throw new Error(`infra/spark/setup.sh ran but Spark is not ready: ${setup.problems.join("; ")}`);
  return setup;
}
