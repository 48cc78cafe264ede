/**
 * Kafka clients for seg. `kafkajs` is loaded on first use (dynamic import), so importing
 * `@seg/runtime` does not load it.
 */
import type { Admin, Kafka, KafkaConfig } from "kafkajs";

/** The broker address tests and local runs use unless `SEG_KAFKA_BROKERS` says otherwise. */
export const DEFAULT_KAFKA_BROKERS = ["127.0.0.1:9092"];

/** Kafka could not be reached in time. */
export class KafkaUnreachableError extends Error {
  constructor(
    readonly brokers: readonly string[],
    readonly reason: string,
  ) {
    super(`cannot reach Kafka at ${brokers.join(",")}: ${reason}`);
    this.name = "KafkaUnreachableError";
  }
}

/** Brokers from `SEG_KAFKA_BROKERS` (comma-separated), else the default. */
export function kafkaBrokersFromEnv(env: Record<string, string | undefined> = process.env): string[] {
  const list = (env["SEG_KAFKA_BROKERS"] ?? "")
    .split(",")
    .map((b) => b.trim())
    .filter((b) => b !== "");
  return list.length > 0 ? list : [...DEFAULT_KAFKA_BROKERS];
}

/** Options for {@link createKafka}. */
export interface KafkaClientOptions {
  brokers: readonly string[];
  clientId?: string;
  /** Connection timeout per broker (default 2 s). */
  connectTimeoutMs?: number;
  /** Retries of failed requests (default 2; 0 to fail fast). */
  retries?: number;
}

/** A kafkajs client with seg's defaults: quiet logs, short timeouts. */
export async function createKafka(options: KafkaClientOptions): Promise<Kafka> {
  const { Kafka: KafkaClass, logLevel } = await import("kafkajs");
  const config: KafkaConfig = {
    clientId: options.clientId ?? "seg",
    brokers: [...options.brokers],
    connectionTimeout: options.connectTimeoutMs ?? 2_000,
    requestTimeout: 10_000,
    retry: { retries: options.retries ?? 2, initialRetryTime: 100, maxRetryTime: 1_000 },
    logLevel: logLevel.NOTHING,
  };
  return new KafkaClass(config);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A connected admin client, or {@link KafkaUnreachableError} when no broker answers within
 * `timeoutMs` (default 2 s). Disconnect it when done.
 */
export async function connectKafkaAdmin(brokers: readonly string[], options: { timeoutMs?: number; clientId?: string } = {}): Promise<Admin> {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const kafka = await createKafka({ brokers, clientId: options.clientId ?? "seg-admin", connectTimeoutMs: timeoutMs, retries: 0 });
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await withTimeout(admin.connect(), timeoutMs, "connecting");
    return admin;
  } catch (e) {
    await admin.disconnect().catch(() => {});
    throw new KafkaUnreachableError(brokers, e instanceof Error ? e.message : String(e));
  }
}
