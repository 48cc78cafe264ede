/**
 * The mover's Lua scripts. A script runs atomically in Redis: no other client's command runs in
 * the middle of one. Entity hashes are addressed by prefix + id inside the scripts (not declared
 * as KEYS), so the mover needs a standalone Redis (not Redis Cluster).
 *
 * Runs are ordered by (asOfMs, runId); a script applies a run only over an older one.
 * Entity hash TTLs: only lengthened (`EXPIRE GT`) or set when there is none (`EXPIRE NX`), so a
 * hash shared by several segments lives as long as the longest-lived of them. The HSET reply says
 * which to try first: a new field mostly means a new key (NX), an updated one a key with a TTL (GT);
 * so an upsert is two calls, three only when the first guess is wrong.
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
  if a > b then return 1 end
  return -1
end
`;

/**
 * Which EXPIRE an upsert tries first for a new field: NX (a new key) or GT (a key that other
 * segments' fields keep alive). Keys met one after the other tend to be alike (a first segment
 * creates them, the next ones find them), so the last new field's outcome is the next guess: two
 * calls per member in either case, three only when the guess is wrong. The result is the same
 * whichever goes first.
 */
const UPSERT = `
local nxFirst = true
local function upsert(key, segment, value, ttl)
  if redis.call('HSET', key, segment, value) == 1 then
    if nxFirst then
      if redis.call('EXPIRE', key, ttl, 'NX') == 0 then
        nxFirst = false
        redis.call('EXPIRE', key, ttl, 'GT')
      end
    elseif redis.call('EXPIRE', key, ttl, 'GT') == 0 and redis.call('EXPIRE', key, ttl, 'NX') == 1 then
      nxFirst = true
    end
  elseif redis.call('EXPIRE', key, ttl, 'GT') == 0 then
    redis.call('EXPIRE', key, ttl, 'NX')
  end
end
`;

/**
 * Members sent "packed": one argument of newline-separated fields (ids, or id, metrics pairs)
 * instead of one argument per field. Building and sending thousands of arguments was most of the
 * mover's own Redis client cost (and of its garbage); splitting in Lua costs Redis about what
 * parsing the separate arguments did. Metrics JSON never holds a raw newline (JSON escapes it) and
 * neither do ids read by the fast path; a run with an id that does is sent argument by argument.
 */
const SPLIT = `
local function split(s, out)
  if s == '' then return 0 end
  local find, sub = string.find, string.sub
  local n, pos = 0, 1
  while true do
    local e = find(s, '\\n', pos, true)
    n = n + 1
    if e == nil then
      out[n] = sub(s, pos)
      return n
    end
    out[n] = sub(s, pos, e - 1)
    pos = e + 1
  end
end
`;

/**
 * The whole swap of a small run in one script: new set, entity hashes (upserts and the leavers'
 * fields removed), meta, TTLs, and the entered/left sets for the change messages.
 *
 * KEYS: members, meta, tmp, post, entered, left, outbox (the SET of segments with a post-swap record)
 * ARGV: runId, version, asOf, asOfMs, size, completedAt, ttl, stagingTtl, entityKeyPrefix,
 *       segment, stagingKey ('' when the members follow), how they follow ('packed': id, metrics
 *       pairs packed in ARGV[13]; 'args': pairs from ARGV[13] on)
 * Returns {'applied', entered, left} | {'duplicate'} | {'stale'} | {'post-pending'} | {'mismatch', n}
 */
export const SWAP_SMALL = `${ORDER}${UPSERT}${SPLIT}
local members, meta, tmp, post, entered, left, outbox = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local runId, version, asOf = ARGV[1], ARGV[2], ARGV[3]
local asOfMs, size = tonumber(ARGV[4]), tonumber(ARGV[5])
-- ttl stays text: redis.call would turn a number back into text for every member.
local completedAt, ttl, sttl = ARGV[6], ARGV[7], tonumber(ARGV[8])
local prefix, segment, staging = ARGV[9], ARGV[10], ARGV[11]
local o = order(meta, asOfMs, runId)
if o == 0 then return {'duplicate'} end
if o < 0 then return {'stale'} end
if redis.call('EXISTS', post) == 1 then return {'post-pending'} end
local src, first
if staging ~= '' then
  src = redis.call('HGETALL', staging)
  first = 1
elseif ARGV[12] == 'packed' then
  src = {}
  split(ARGV[13], src)
  first = 1
else
  src = ARGV
  first = 13
end
local n = (#src - first + 1) / 2
if n ~= size then return {'mismatch', n} end
redis.call('DEL', tmp)
local ids = {}
for i = first, #src, 2 do
  local id = src[i]
  upsert(prefix .. id, segment, src[i + 1], ttl)
  ids[#ids + 1] = id
  if #ids == 1000 then
    redis.call('SADD', tmp, unpack(ids))
    ids = {}
  end
end
if #ids > 0 then redis.call('SADD', tmp, unpack(ids)) end
local nEnter = redis.call('SDIFFSTORE', entered, tmp, members)
local nLeft = redis.call('SDIFFSTORE', left, members, tmp)
if nLeft > 0 then
  for _, id in ipairs(redis.call('SMEMBERS', left)) do redis.call('HDEL', prefix .. id, segment) end
end
if size > 0 then
  redis.call('RENAME', tmp, members)
  redis.call('EXPIRE', members, ttl)
else
  redis.call('DEL', members)
end
redis.call('HSET', meta, 'runId', runId, 'version', version, 'asOf', asOf, 'asOfMs', ARGV[4], 'size', ARGV[5], 'completedAt', completedAt)
redis.call('EXPIRE', meta, ttl)
if nEnter + nLeft > 0 then
  redis.call('HSET', post, 'runId', runId, 'asOf', asOf, 'segment', segment, 'entered', entered, 'left', left, 'old', '', 'hdel', '0', 'entityKeyPrefix', prefix)
  redis.call('EXPIRE', post, sttl)
  redis.call('SADD', outbox, segment)
  redis.call('EXPIRE', outbox, sttl)
  if nEnter > 0 then redis.call('EXPIRE', entered, sttl) end
  if nLeft > 0 then redis.call('EXPIRE', left, sttl) end
end
return {'applied', nEnter, nLeft}
`;

/**
 * One chunk of a large run, before its swap: upserts the members' entity hashes, adds them to the
 * new set unless the mover did while reading the run (`addToSet` '0'), and, when `check` is '1'
 * (segments too large for one set difference after the chunks), adds those not in the current set
 * to `entered`; when it is 'all' (a first run too large for one copy of its new set), adds them all. Members come from ARGV (id, metrics pairs packed in ARGV[9] when ARGV[8] is
 * 'packed', else pairs from ARGV[9] on) or from one HSCAN step over the staging hash.
 *
 * KEYS: tmp, members, entered, staging
 * ARGV: entityKeyPrefix, segment, ttl, stagingTtl, check, addToSet, cursor ('' when pairs follow),
 *       count (or 'packed' / 'args' when pairs follow)
 * Returns the next HSCAN cursor ('0' when done, or when the pairs came from ARGV).
 */
export const BUILD_CHUNK = `${UPSERT}${SPLIT}
local tmp, members, entered, staging = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prefix, segment, ttl, sttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local check, allEnter, addToSet = ARGV[5] == '1', ARGV[5] == 'all', ARGV[6] == '1'
local src, first, nextCursor
if ARGV[7] ~= '' then
  local r = redis.call('HSCAN', staging, ARGV[7], 'COUNT', ARGV[8])
  nextCursor, src, first = r[1], r[2], 1
elseif ARGV[8] == 'packed' then
  src = {}
  split(ARGV[9], src)
  nextCursor, first = '0', 1
else
  nextCursor, src, first = '0', ARGV, 9
end
local keep = addToSet or check or allEnter
local ids, n = {}, 0
local function flush()
  if n == 0 then return end
  if addToSet then redis.call('SADD', tmp, unpack(ids)) end
  if allEnter then redis.call('SADD', entered, unpack(ids)) end
  if check then
    local inOld = redis.call('SMISMEMBER', members, unpack(ids))
    local new = {}
    for j = 1, #ids do
      if inOld[j] == 0 then new[#new + 1] = ids[j] end
    end
    if #new > 0 then redis.call('SADD', entered, unpack(new)) end
  end
  ids, n = {}, 0
end
for i = first, #src, 2 do
  local id = src[i]
  upsert(prefix .. id, segment, src[i + 1], ttl)
  if keep then
    n = n + 1
    ids[n] = id
    if n == 1000 then flush() end
  end
end
flush()
redis.call('EXPIRE', tmp, sttl)
if check or allEnter then redis.call('EXPIRE', entered, sttl) end
return nextCursor
`;

/**
 * While a run is read: adds entity ids (packed) to the run's new-members SET.
 *
 * KEYS: set
 * ARGV: ids (packed)
 * Returns how many were new.
 */
export const STAGE_IDS = `${SPLIT}
local ids = {}
local n = split(ARGV[1], ids)
local added = 0
for s = 1, n, 1000 do
  added = added + redis.call('SADD', KEYS[1], unpack(ids, s, math.min(s + 999, n)))
end
return added
`;

/**
 * While a spilled run is read: writes members (id, metrics pairs, packed) to its staging HASH.
 *
 * KEYS: staging
 * ARGV: pairs (packed)
 * Returns how many fields were new.
 */
export const STAGE_PAIRS = `${SPLIT}
local f = {}
local n = split(ARGV[1], f)
if n % 2 ~= 0 then return redis.error_reply('odd number of packed fields') end
local added = 0
for s = 1, n, 1000 do
  added = added + redis.call('HSET', KEYS[1], unpack(f, s, math.min(s + 999, n)))
end
return added
`;

/**
 * After the chunks of a large run (mode 'diff'): the entered and left members as two set
 * differences of the new and the current set, computed in Redis in one step.
 *
 * KEYS: tmp, members, entered, left
 * ARGV: stagingTtl
 */
export const DIFF = `
redis.call('SDIFFSTORE', KEYS[3], KEYS[1], KEYS[2])
redis.call('SDIFFSTORE', KEYS[4], KEYS[2], KEYS[1])
redis.call('EXPIRE', KEYS[3], ARGV[1])
redis.call('EXPIRE', KEYS[4], ARGV[1])
return 0
`;

/**
 * One SSCAN step over the current members of a large run's segment: those not in the new set are
 * added to `left`.
 *
 * KEYS: members, tmp, left
 * ARGV: cursor, count, stagingTtl
 * Returns the next cursor.
 */
export const LEFT_CHUNK = `
local r = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local ids = r[2]
for s = 1, #ids, 1000 do
  local part = {}
  for j = s, math.min(s + 999, #ids) do part[#part + 1] = ids[j] end
  local inNew = redis.call('SMISMEMBER', KEYS[2], unpack(part))
  local gone = {}
  for j = 1, #part do
    if inNew[j] == 0 then gone[#gone + 1] = part[j] end
  end
  if #gone > 0 then redis.call('SADD', KEYS[3], unpack(gone)) end
end
redis.call('EXPIRE', KEYS[3], ARGV[3])
return r[1]
`;

/**
 * The swap of a large run, after its chunks: the new set replaces the members (the old set is kept
 * under \`old\` until the follow-up work frees it), and the meta is written, in one step. Refuses
 * when the meta's runId is no longer \`basis\` (someone applied a run since the chunks started).
 * With \`all\` '1' the segment had no members when the chunks started: every member enters, and
 * \`entered\` is a copy of the new set made before the swap (so the change messages do not depend
 * on the live set, which may be retired or expire before they are all published); refused as
 * 'retry' if the segment has members now.
 *
 * KEYS: members, meta, tmp, old, post, entered, left, outbox
 * ARGV: basis, runId, version, asOf, asOfMs, size, completedAt, ttl, stagingTtl, entityKeyPrefix, segment, all
 * Returns {'applied', entered, left} | {'retry'} | {'duplicate'} | {'stale'} | {'post-pending'} | {'mismatch', n}
 */
export const SWAP_LARGE = `${ORDER}
local members, meta, tmp, old, post, entered, left, outbox = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local basis, runId, version, asOf = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local asOfMs, size = tonumber(ARGV[5]), tonumber(ARGV[6])
local completedAt, ttl, sttl, prefix, segment = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10], ARGV[11]
local all = ARGV[12] == '1'
local cur = redis.call('HGET', meta, 'runId')
if (cur or '') ~= basis then return {'retry'} end
if all and redis.call('EXISTS', members) == 1 then return {'retry'} end
local o = order(meta, asOfMs, runId)
if o == 0 then return {'duplicate'} end
if o < 0 then return {'stale'} end
if redis.call('EXISTS', post) == 1 then return {'post-pending'} end
local n = redis.call('SCARD', tmp)
if n ~= size then return {'mismatch', n} end
if redis.call('EXISTS', members) == 1 then
  redis.call('RENAME', members, old)
  redis.call('EXPIRE', old, sttl)
end
if size > 0 then
  redis.call('RENAME', tmp, members)
  redis.call('EXPIRE', members, ttl)
end
redis.call('HSET', meta, 'runId', runId, 'version', version, 'asOf', asOf, 'asOfMs', ARGV[5], 'size', ARGV[6], 'completedAt', completedAt)
redis.call('EXPIRE', meta, ttl)
if all then
  local e = ''
  if size > 0 then e = entered end
  redis.call('HSET', post, 'runId', runId, 'asOf', asOf, 'segment', segment, 'entered', e, 'left', '', 'old', '', 'hdel', '0', 'entityKeyPrefix', prefix)
else
  redis.call('HSET', post, 'runId', runId, 'asOf', asOf, 'segment', segment, 'entered', entered, 'left', left, 'old', old, 'hdel', '1', 'entityKeyPrefix', prefix)
end
redis.call('EXPIRE', post, sttl)
redis.call('SADD', outbox, segment)
redis.call('EXPIRE', outbox, sttl)
if all then return {'applied', size, 0} end
return {'applied', redis.call('SCARD', entered), redis.call('SCARD', left)}
`;

/**
 * One SSCAN step of the follow-up work over an entered or left set: publishes a ChangeMessage per
 * member on the segment's pub/sub channel and, for leavers of a chunked swap whose fields were not
 * removed yet (a crash right after the swap), removes the segment's field from their entity hash.
 * Returns {nextCursor, ids, messages}: the caller sends the same messages (the same JSON text) to
 * Kafka, keyed by entity id.
 *
 * KEYS: set
 * ARGV: cursor, count, channel, change ('enter' | 'exit'), segment, runId, asOf, hdel ('1' | '0'), entityKeyPrefix
 */
export const POST_CHUNK = `
local r = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local head = '{"segment":' .. cjson.encode(ARGV[5]) .. ',"entityId":'
local tail = ',"change":"' .. ARGV[4] .. '","runId":' .. cjson.encode(ARGV[6]) .. ',"asOf":' .. cjson.encode(ARGV[7]) .. '}'
local hdel = ARGV[8] == '1'
local messages = {}
for i, id in ipairs(r[2]) do
  if hdel then redis.call('HDEL', ARGV[9] .. id, ARGV[5]) end
  local m = head .. cjson.encode(id) .. tail
  redis.call('PUBLISH', ARGV[3], m)
  messages[i] = m
end
return {r[1], r[2], messages}
`;

/**
 * One SSCAN step over the leavers of a chunked swap, right after it: removes the segment's field
 * from their entity hashes.
 *
 * KEYS: left
 * ARGV: cursor, count, entityKeyPrefix, segment
 * Returns the next cursor.
 */
export const DROP_LEFT_CHUNK = `
local r = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
for _, id in ipairs(r[2]) do redis.call('HDEL', ARGV[3] .. id, ARGV[4]) end
return r[1]
`;

/** Script name → Lua source and number of KEYS, for `defineCommand`. */
export const MOVER_SCRIPTS = {
  segMoverSwapSmall: { lua: SWAP_SMALL, numberOfKeys: 7 },
  segMoverBuildChunk: { lua: BUILD_CHUNK, numberOfKeys: 4 },
  segMoverDiff: { lua: DIFF, numberOfKeys: 4 },
  segMoverLeftChunk: { lua: LEFT_CHUNK, numberOfKeys: 3 },
  segMoverSwapLarge: { lua: SWAP_LARGE, numberOfKeys: 8 },
  segMoverPostChunk: { lua: POST_CHUNK, numberOfKeys: 1 },
  segMoverDropLeftChunk: { lua: DROP_LEFT_CHUNK, numberOfKeys: 1 },
  segMoverStageIds: { lua: STAGE_IDS, numberOfKeys: 1 },
  segMoverStagePairs: { lua: STAGE_PAIRS, numberOfKeys: 1 },
} as const;

export type MoverScriptName = keyof typeof MOVER_SCRIPTS;
