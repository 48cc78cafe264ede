/**
 * The server's Redis reads. Each read of one response is ONE atomic step (a Lua script, or a
 * MULTI), so a response never mixes two runs of a segment: the mover replaces a members set by a
 * RENAME in one script or MULTI, together with its meta hash.
 *
 * Member pages: a script loops SSCAN from the client's cursor until the page is full, so a page is
 * one snapshot. A batch that would overflow the page is left for the next page (the cursor points
 * before it), so members come exactly once; only a single batch larger than the whole page (a
 * small set kept as a listpack or intset, which SSCAN returns at once, or one big hash bucket) is
 * split, sorted, with the number already returned kept in the cursor. The cursor also holds the
 * run id of the first page: when the segment's run has changed, the next page is refused (409)
 * rather than continuing over another set.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

/** SSCAN calls per page at most (a guard: live sets are never sparse). */
const MAX_SCANS_PER_PAGE = 10_000;

/**
 * KEYS: members, meta. ARGV: cursor, skip, limit, expected run id, '1' when a run id is expected.
 * Returns {'changed', runId} or {'ok', runId, nextCursor, nextSkip, members...}; next cursor '0'
 * with skip '0' means the end.
 */
const PAGE = `
local members, meta = KEYS[1], KEYS[2]
local runId = redis.call('HGET', meta, 'runId') or ''
if ARGV[5] == '1' and ARGV[4] ~= runId then return {'changed', runId} end
local cursor, skip, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {'ok', runId, '0', '0'}
local n = 0
local scans = 0
while true do
  local room = limit - n
  local count = math.max(math.ceil(room / 2), 10)
  local r = redis.call('SSCAN', members, cursor, 'COUNT', count)
  scans = scans + 1
  local batch = r[2]
  if #batch - skip > room then
    if n > 0 then
      out[3] = cursor
      return out
    end
    table.sort(batch)
    for i = skip + 1, skip + room do out[#out + 1] = batch[i] end
    out[3] = cursor
    out[4] = tostring(skip + room)
    return out
  end
  if skip > 0 then table.sort(batch) end
  for i = skip + 1, #batch do out[#out + 1] = batch[i] end
  n = n + math.max(0, #batch - skip)
  skip = 0
  cursor = r[1]
  if cursor == '0' or n >= limit or scans >= ${MAX_SCANS_PER_PAGE} then
    out[3] = cursor
    return out
  end
end
`;

/**
 * KEYS: members, entity hash, meta. ARGV: entity id, segment (the entity hash field).
 * Returns {isMember, metricsJson|false, runId|false, asOf|false}.
 */
const MEMBER = `
local m = redis.call('SISMEMBER', KEYS[1], ARGV[1])
local metrics = false
if m == 1 then metrics = redis.call('HGET', KEYS[2], ARGV[2]) end
local meta = redis.call('HMGET', KEYS[3], 'runId', 'asOf')
return {m, metrics, meta[1], meta[2]}
`;

/** KEYS: members, meta. Returns {SCARD, HGETALL} of one segment, atomically. */
const STATE = `
return {redis.call('SCARD', KEYS[1]), redis.call('HGETALL', KEYS[2])}
`;

/**
 * KEYS: entity hash, segment index (HASH segment → members key of the active segments of that
 * entity type, see {@link writeSegmentIndex}). ARGV: entity id. Returns {'missing'} when the index
 * is gone, else {'ok', segment, metricsJson, ...} for each field of the entity hash whose segment
 * is in the index AND whose members set holds the id (the set is the truth: a field can briefly
 * outlive a membership or precede it during the mover's chunked swaps).
 */
const ENTITY = `
if redis.call('EXISTS', KEYS[2]) == 0 then return {'missing'} end
local fields = redis.call('HGETALL', KEYS[1])
local out = {'ok'}
for i = 1, #fields, 2 do
  local members = redis.call('HGET', KEYS[2], fields[i])
  if members and redis.call('SISMEMBER', members, ARGV[1]) == 1 then
    out[#out + 1] = fields[i]
    out[#out + 1] = fields[i + 1]
  end
end
return out
`;

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;
interface ServeScripts {
  segServePage: ScriptFn;
  segServeMember: ScriptFn;
  segServeEntity: ScriptFn;
  segServeState: ScriptFn;
}

/** Defines the server's scripts on a client (idempotent). */
export function defineServeScripts(redis: Redis): void {
  const defs = { segServePage: [PAGE, 2], segServeMember: [MEMBER, 3], segServeEntity: [ENTITY, 2], segServeState: [STATE, 2] } as const;
  for (const [name, [lua, numberOfKeys]] of Object.entries(defs)) {
    if (typeof (redis as unknown as Record<string, unknown>)[name] !== "function") redis.defineCommand(name, { lua, numberOfKeys });
  }
}

const scripts = (redis: Redis) => redis as unknown as ServeScripts;

/** A decoded members cursor. */
export interface MembersCursor {
  runId: string;
  scan: string;
  skip: number;
}

/** The opaque text of a cursor (base64url of JSON). */
export function encodeCursor(c: MembersCursor): string {
  return Buffer.from(JSON.stringify([1, c.runId, c.scan, c.skip]), "utf8").toString("base64url");
}

/** A cursor from its text; undefined when it is not one of ours. */
export function decodeCursor(text: string): MembersCursor | undefined {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || v.length !== 4 || v[0] !== 1) return undefined;
  const [, runId, scan, skip] = v as unknown[];
  if (typeof runId !== "string" || runId.length > 512) return undefined;
  if (typeof scan !== "string" || !/^[0-9]{1,20}$/.test(scan) || BigInt(scan) > 18446744073709551615n) return undefined;
  if (typeof skip !== "number" || !Number.isSafeInteger(skip) || skip < 0 || skip > 1_000_000_000) return undefined;
  return { runId, scan, skip };
}

/** One page of members, or `changed` when the segment's run is not the cursor's any more. */
export type MembersPage = { status: "ok"; runId: string | null; members: string[]; next: string | null } | { status: "changed"; runId: string | null };

/** Reads one page of a segment's members. */
export async function readMembersPage(
  redis: Redis,
  keys: { membersKey: string; metaKey: string },
  cursor: MembersCursor | undefined,
  limit: number,
): Promise<MembersPage> {
  const reply = (await scripts(redis).segServePage(
    keys.membersKey,
    keys.metaKey,
    cursor?.scan ?? "0",
    cursor?.skip ?? 0,
    limit,
    cursor?.runId ?? "",
    cursor ? "1" : "0",
  )) as string[];
  const runId = reply[1] === "" ? null : reply[1]!;
  if (reply[0] === "changed") return { status: "changed", runId };
  const scan = reply[2]!;
  const skip = Number(reply[3]);
  const members = reply.slice(4);
  const done = scan === "0" && skip === 0;
  return { status: "ok", runId, members, next: done ? null : encodeCursor({ runId: reply[1]!, scan, skip }) };
}

/** Membership of one entity, with its metrics when it is a member. */
export interface MemberCheck {
  member: boolean;
  metrics: Record<string, unknown> | null;
  runId: string | null;
  asOf: string | null;
}

/** Parses a metrics value from an entity hash; a value that is not a JSON object is wrapped as `{value}`. */
export function parseMetrics(raw: string | null | undefined): Record<string, unknown> | null {
  if (raw == null) return null;
  try {
    const v: unknown = JSON.parse(raw);
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    return { value: v };
  } catch {
    return { value: raw };
  }
}

/** Is `entityId` in the segment (one atomic script). */
export async function readMember(
  redis: Redis,
  segment: string,
  keys: { membersKey: string; metaKey: string; entityKeyPrefix: string },
  entityId: string,
): Promise<MemberCheck> {
  const [m, metrics, runId, asOf] = (await scripts(redis).segServeMember(
    keys.membersKey,
    keys.entityKeyPrefix + entityId,
    keys.metaKey,
    entityId,
    segment,
  )) as [number, string | null, string | null, string | null];
  const member = m === 1;
  return { member, metrics: member ? (parseMetrics(metrics) ?? {}) : null, runId: runId ?? null, asOf: asOf ?? null };
}

/** How long a segment index lives in Redis without being written again (servers rewrite it on every catalog load). */
export const SEGMENT_INDEX_TTL_SECONDS = 7 * 86_400;

/**
 * The key of the segment index of one entity type: content-addressed (a hash of its segment →
 * members key pairs), so servers with different catalogs (during a deploy) never overwrite each
 * other's index.
 */
export function segmentIndexKey(prefix: string, segments: readonly { name: string; redis: { membersKey: string } }[]): string {
  const pairs = segments.map((s) => [s.name, s.redis.membersKey]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
  return `${prefix}serve:index:${createHash("sha256").update(JSON.stringify(pairs)).digest("hex").slice(0, 32)}`;
}

/** Writes (or refreshes) a segment index under `key`. */
export async function writeSegmentIndex(redis: Redis, key: string, segments: readonly { name: string; redis: { membersKey: string } }[]): Promise<void> {
  const flat: string[] = [];
  for (const s of segments) flat.push(s.name, s.redis.membersKey);
  const m = redis.multi();
  if (flat.length > 0) m.hset(key, ...flat);
  m.expire(key, SEGMENT_INDEX_TTL_SECONDS);
  await m.exec();
}

/**
 * The segments (of one entity type) an entity is in, with their metrics: one script over the
 * entity hash and the type's segment index (rewritten and retried once when it has gone).
 */
export async function readEntitySegments(
  redis: Redis,
  entityKeyPrefix: string,
  entityId: string,
  index: { key: string; segments: readonly { name: string; redis: { membersKey: string } }[] },
): Promise<{ segment: string; metrics: Record<string, unknown> }[]> {
  if (index.segments.length === 0) return [];
  let reply = (await scripts(redis).segServeEntity(entityKeyPrefix + entityId, index.key, entityId)) as string[];
  if (reply[0] === "missing") {
    await writeSegmentIndex(redis, index.key, index.segments);
    reply = (await scripts(redis).segServeEntity(entityKeyPrefix + entityId, index.key, entityId)) as string[];
  }
  const out: { segment: string; metrics: Record<string, unknown> }[] = [];
  for (let i = 1; i + 1 < reply.length; i += 2) out.push({ segment: reply[i]!, metrics: parseMetrics(reply[i + 1]) ?? {} });
  return out;
}

/** A segment's size and snapshot (meta hash), read in one MULTI. */
export interface SegmentState {
  size: number;
  meta: Record<string, string>;
}

/** Sizes and meta of several segments, one script each (pipelined). */
export async function readSegmentStates(redis: Redis, segments: readonly { redis: { membersKey: string; metaKey: string } }[]): Promise<SegmentState[]> {
  return Promise.all(
    segments.map(async (s) => {
      const [size, flat] = (await scripts(redis).segServeState(s.redis.membersKey, s.redis.metaKey)) as [number, string[]];
      const meta: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) meta[flat[i]!] = flat[i + 1]!;
      return { size: Number(size), meta };
    }),
  );
}
