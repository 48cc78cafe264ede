/**
 * The exits of a retired segment's members, published on pub/sub by a Lua script, have exactly the
 * text the mover publishes for its changes (`changeMessageText`, JSON.stringify's): the same keys
 * in the same order and the same escapes, whatever the ids and names hold (quotes, backslashes,
 * control characters, `/`, DEL, non-ASCII). The Kafka side gets the same changes.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changeMessageText, changesChannel, cleanupRetiredSegment, type ChangeMessage } from "@seg/runtime";
import { dropPrefix, ensureMoverServices, unique, until } from "../support/mover-fixtures.js";

let redis: Redis;
let subscriber: Redis;
const prefixes: string[] = [];

beforeAll(async () => {
  const { redisUrl } = await ensureMoverServices();
  redis = new Redis(redisUrl);
  subscriber = new Redis(redisUrl);
}, 240_000);

afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  redis?.disconnect();
  subscriber?.disconnect();
});

describe("a retired segment's exits", () => {
  it("are published with the mover's change text, byte for byte", async () => {
    const prefix = `${unique("retired-text")}:`;
    prefixes.push(prefix);
    const segment = 'seg "quoted" \\ back/slash é';
    const ids = ["plain", 'q"uote', "back\\slash", "sl/ash", "tab\there", "nl\nx", "cr\rx", "bs\bx", "ff\fx", "nul\u0000x", "us\u001fx", "del\u007fx", "é-€-😀", "</script>", ""];
    const membersKey = `${prefix}segment:${segment}:members`;
    await redis.sadd(membersKey, ...ids);
    const heard: string[] = [];
    subscriber.on("message", (_channel: string, message: string) => heard.push(message));
    await subscriber.subscribe(changesChannel(prefix, segment));
    const sent: ChangeMessage[] = [];
    const exits = { runId: 'retired-7 "x"/\\', asOf: "2026-11-26T12:00:00.000Z", send: async (c: ChangeMessage[]) => void sent.push(...c) };
    const result = await cleanupRetiredSegment({ segment, redis: { segment, keys: [membersKey] } }, { redis, prefix, batchSize: 4, exits });
    expect(result.members).toBe(ids.length);
    await until(() => heard.length >= ids.length, 10_000, "every exit on pub/sub");
    const text = changeMessageText(segment, "exit", exits.runId, exits.asOf);
    expect([...heard].sort()).toEqual(ids.map(text).sort());
    // The changes topic gets the same changes (JSON.stringify of each gives the same text).
    expect(sent.map((c) => JSON.stringify(c)).sort()).toEqual(ids.map(text).sort());
  });
});
