/**
 * The Kafka broker for integration tests: `SEG_KAFKA_BROKERS` (default 127.0.0.1:9092), started
 * with infra/kafka/start.sh when nothing answers there. The broker is left running for later
 * tests; `.ci/run` (infra/kafka/stop.sh) stops it.
 */
import { execFile } from "node:child_process";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { kafkaBrokersFromEnv } from "@seg/runtime";

const startScript = fileURLToPath(new URL("../../../../infra/kafka/start.sh", import.meta.url));

/** The brokers tests use. */
export const testBrokers = kafkaBrokersFromEnv(process.env);

function portAnswers(address: string, timeoutMs = 1_000): Promise<boolean> {
  const i = address.lastIndexOf(":");
  const host = address.slice(0, i);
  const port = Number(address.slice(i + 1));
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Makes sure a broker answers; starts the local one when the brokers are the default address.
 * Runs start.sh in any case when the port is closed (it is idempotent and waits for readiness).
 */
export async function ensureKafka(): Promise<string[]> {
  if (await portAnswers(testBrokers[0]!)) return testBrokers;
  const port = testBrokers[0]!.slice(testBrokers[0]!.lastIndexOf(":") + 1);
  const failures: string[] = [];
  // start.sh is idempotent; a second try covers a broker that died while starting.
  for (let attempt = 1; attempt <= 2; attempt++) {
    const failure = await new Promise<string | undefined>((resolve) => {
      execFile("bash", [startScript], { env: { ...process.env, SEG_KAFKA_PORT: port }, timeout: 180_000 }, (err, stdout, stderr) => {
        resolve(err ? `attempt ${attempt}: ${err.message}\n${stdout}${stderr}` : undefined);
      });
    });
    if (failure === undefined) return testBrokers;
    failures.push(failure);
  }
  throw new Error(`infra/kafka/start.sh failed:\n${failures.join("\n")}`);
}
