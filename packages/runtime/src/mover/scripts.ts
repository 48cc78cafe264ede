/**
 * The mover's Lua scripts. A script runs atomically in Redis: no other client's command runs in
 * the middle of one.
 *
 * Runs are ordered by (asOfMs, runId); a script applies a run only over an older one.
 *
 * A run is staged while it is read (native HSET and SADD, see packed-members.ts): its members go
 * to a private new-members SET and a private metrics HASH (entity id → metrics JSON). Its swap then renames both over the segment's members
 * SET and metrics HASH and writes the meta, in one script: readers see the old set, metrics and
 * meta or the new ones, for runs of any size. There are no per-entity keys: an entity's segments
 * are read from the segments' sets and metrics hashes (serve/reads.ts).
 */

const ORDER = `
local function order(meta, asOfMs, runId)
  local cur = redis.call('HMGET', meta, 'runId', 'asOfMs')
  if not cur[1] then return 1 end
  local curAsOf = tonumber(cur[2]) or -1
  if asOfMs > curAsOf then return 1 end
  if asOfMs < curAsOf then return -1 end
  if runId == cur[1] then return 0 end
  local a, b = runId, cur[1]
  -- Run ids made of digits compare as numbers (run 10 is newer than run 9); others as text.
  if a:match('^%d+$') and b:match('^%d+$') and #a ~= #b then
    if #a > #b then return 1 end
    return -1
  end
  -- Byte by byte (the string operator < follows Redis's locale), as compareRuns does on UTF-8.
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = a:byte(i), b:byte(i)
    if x ~= y then
      if x > y then return 1 end
      return -1
    end
  end
  if #a > #b then return 1 end
  return -1
end
`;

/**
 * Before the swap of a run too large for one set difference: one SSCAN step over `scanned`, adding
 * to `out` its members that are not in `other` (or every member with `all` '1'). Entered members:
 * scanned = the new set, other = the current one (`all`: a first run's entered set is a copy of
 * its new set); left members: the other way round.
 *
 * KEYS: scanned, other, out
 * ARGV: cursor, count, stagingTtl, all
 * Returns the next cursor.
 */
export const DIFF_CHUNK = `
local r = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local ids = r[2]
local all = ARGV[4] == '1'
for s = 1, #ids, 1000 do
  local part = {}
  for j = s, math.min(s + 999, #ids) do part[#part + 1] = ids[j] end
  if all then
    redis.call('SADD', KEYS[3], unpack(part))
  else
    local inOther = redis.call('SMISMEMBER', KEYS[2], unpack(part))
    local missing = {}
    for j = 1, #part do
      if inOther[j] == 0 then missing[#missing + 1] = part[j] end
    end
    if #missing > 0 then redis.call('SADD', KEYS[3], unpack(missing)) end
  end
end
if #ids > 0 then redis.call('EXPIRE', KEYS[3], ARGV[3]) end
return r[1]
`;

/**
 * The swap of a staged run, in one step: the new set and metrics hash replace the segment's (the
 * old ones are UNLINKed: freed in the background), and the meta is written. The entered and left
 * members (for the change messages) are, by `mode`:
 * - 'diff': two set differences here (segments small enough to block Redis briefly);
 * - 'all': the segment has no members: `entered` is a copy of the new set, made here;
 * - 'chunked', 'chunked-all': built before, chunk by chunk (DIFF_CHUNK) against the
 *   current set, which must not have changed since: refused as 'retry' when the meta's runId is no
 *   longer `basis` (or, for 'chunked-all', when the segment has members now).
 * The change messages must not depend on the live set (which may be retired or expire while they
 * are published), so entered and left are kept as sets of their own, named in the segment's
 * post-swap record (and the segment is added to the outbox) when there are changes.
 *
 * KEYS: members, meta, set, post, entered, left, outbox, staged metrics, metrics
 * ARGV: basis, runId, version, asOf, asOfMs, size, completedAt, ttl, stagingTtl, segment, mode
 * Returns {'applied', entered, left} | {'retry'} | {'duplicate'} | {'stale'} | {'post-pending'} | {'mismatch', n}
 */
export const SWAP = `${ORDER}
local members, meta, set, post, entered, left, outbox, staged, metrics = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local basis, runId, version, asOf = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local asOfMs, size = tonumber(ARGV[5]), tonumber(ARGV[6])
local completedAt, ttl, sttl, segment, mode = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10], ARGV[11]
local chunked = mode == 'chunked' or mode == 'chunked-all'
if chunked then
  local cur = redis.call('HGET', meta, 'runId')
  if (cur or '') ~= basis then return {'retry'} end
  if mode == 'chunked-all' and redis.call('EXISTS', members) == 1 then return {'retry'} end
end
local o = order(meta, asOfMs, runId)
if o == 0 then return {'duplicate'} end
if o < 0 then return {'stale'} end
if redis.call('EXISTS', post) == 1 then return {'post-pending'} end
local n = redis.call('SCARD', set)
if n ~= size then return {'mismatch', n} end
local h = redis.call('HLEN', staged)
if h ~= size then return {'mismatch', h} end
local nEnter, nLeft
if mode == 'diff' then
  nEnter = redis.call('SDIFFSTORE', entered, set, members)
  nLeft = redis.call('SDIFFSTORE', left, members, set)
elseif mode == 'all' then
  if redis.call('EXISTS', members) == 1 then return {'retry'} end
  nEnter, nLeft = size, 0
  if size > 0 then redis.call('COPY', set, entered, 'REPLACE') end
else
  nEnter, nLeft = redis.call('SCARD', entered), redis.call('SCARD', left)
end
redis.call('UNLINK', members, metrics)
if size > 0 then
  redis.call('RENAME', set, members)
  redis.call('EXPIRE', members, ttl)
  redis.call('RENAME', staged, metrics)
  redis.call('EXPIRE', metrics, ttl)
end
redis.call('HSET', meta, 'runId', runId, 'version', version, 'asOf', asOf, 'asOfMs', ARGV[5], 'size', ARGV[6], 'completedAt', completedAt)
redis.call('EXPIRE', meta, ttl)
if nEnter + nLeft > 0 then
  local e, l = '', ''
  if nEnter > 0 then
    e = entered
    redis.call('EXPIRE', entered, sttl)
  end
  if nLeft > 0 then
    l = left
    redis.call('EXPIRE', left, sttl)
  end
  redis.call('HSET', post, 'runId', runId, 'asOf', asOf, 'segment', segment, 'entered', e, 'left', l)
  redis.call('EXPIRE', post, sttl)
  redis.call('SADD', outbox, segment)
  redis.call('EXPIRE', outbox, sttl)
end
return {'applied', nEnter, nLeft}
`;

/**
 * Publishes change messages (made by the mover, one per member, the same JSON text it sends to
 * Kafka) on a segment's pub/sub channel: one command for a chunk instead of one per message.
 *
 * ARGV: channel, message...
 * Returns the number of messages published.
 */
export const PUBLISH_CHUNK = `
local channel = ARGV[1]
for i = 2, #ARGV do redis.call('PUBLISH', channel, ARGV[i]) end
return #ARGV - 1
`;

/** Script name → Lua source and number of KEYS, for `defineCommand`. */
export const MOVER_SCRIPTS = {
  segMoverDiffChunk: { lua: DIFF_CHUNK, numberOfKeys: 3 },
  segMoverSwap: { lua: SWAP, numberOfKeys: 9 },
  segMoverPublishChunk: { lua: PUBLISH_CHUNK, numberOfKeys: 0 },
} as const;

export type MoverScriptName = keyof typeof MOVER_SCRIPTS;
