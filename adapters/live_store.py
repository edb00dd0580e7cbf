"""Live state in Redis: every key the API (and later the recommendation DAGs) reads or writes.

Redis here keeps nothing on disk, so nothing in it is the only copy of anything: PostgreSQL holds the
truth (social graph, event log, stat totals) and every key below can be lost and rebuilt.

All keys start with a configurable prefix (``REELFLOW_REDIS_PREFIX``, default ``rf:``):

Key (type): what.

- ``pool:{user}`` (ZSET): the candidate pool; member = video id, score = retrieval score, higher first.
  Written whole by :func:`write_pool` (DEL + ZADD + EXPIRE in one MULTI); the recommendation DAGs write
  the same format. A missing pool is rebuilt by the simple builder (``feed_api.simple_pool``).
- ``pool:{user}:src`` (STRING): who wrote the pool (``simple`` or a DAG run id), for debugging.
- ``uvec:{user}`` (STRING): the user's two-tower vector, ``{two-tower version}:{base64 of float32 LE}``,
  written beside the pool by the refresh (same TTL) with :func:`write_user_vectors`; the API ranks with the
  trained ranker only when the version matches the one its ranker was trained on. Text, not raw bytes,
  because the API's Redis clients decode replies as UTF-8.
- ``seen:{user}:{session}`` (SET): video ids served in one feed session; TTL ``SEEN_TTL_S``, refreshed.
- ``vd:{user}:{video}:{YYYYMMDDHH}`` (STRING): view de-dup, ``SET NX EX``; a view counts only if it
  created the key.
- ``cnt:{video}`` (HASH): counter deltas not yet in PostgreSQL (views, likes, comments, shares,
  watch_ms, completions); ``cnt:dirty`` (SET) lists the videos that have some. :func:`flush_counters`
  drains them into ``videos.*``.
- ``prof:{user}`` (HASH): near-real-time profile, ``t:{tag}`` / ``c:{creator}`` -> weight decayed with
  half-life ``PROFILE_HALF_LIFE_S``; ``_t`` = time of the last decay (unix s); at most
  ``PROFILE_MAX_FIELDS`` fields.
- ``trend:{region}:{period}`` (ZSET): trending by viewer region (``global`` for all), forward-decayed:
  each event adds weight x 2^((t - period start) / half-life); a new key every ``TREND_PERIOD_S`` keeps
  the exponents small.
- ``trendsnap:{region}`` (STRING): comma-separated top trending ids (live, then the catalog's), rebuilt
  every ``TREND_SNAPSHOT_TTL_S``: what trending pages read.
- ``viewer:{user}`` (STRING): JSON cache of the viewer's filters (blocked either way, not-interested
  creators and tags, region, interests); deleted on every change.
- ``card:{video}`` (STRING): JSON feed card (metadata, author, stats, URLs); TTL ``CARD_TTL_S``, deleted
  on delete and on flush.
- ``rl:{subject}`` (STRING): rate limit state (GCRA theoretical arrival time, ms) of the general budget;
  ``rl:{budget}:{subject}`` the same for a class of requests with its own budget (sign-up per client IP,
  comments, follows and reactions per account).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime

import numpy as np
import redis
from sqlalchemy.orm import Session

from catalog import counters

POOL_TTL_S = 6 * 3600
SEEN_TTL_S = 3600
VIEW_DEDUP_S = 3600
CARD_TTL_S = 60
PROFILE_HALF_LIFE_S = 6 * 3600
PROFILE_MAX_FIELDS = 64
PROFILE_TTL_S = 14 * 86400
TREND_HALF_LIFE_S = 12 * 3600
TREND_PERIOD_S = 7 * 86400
TREND_KEEP = 2000
TREND_SNAPSHOT_TTL_S = 30
COUNTERS = tuple(counters.COLUMNS)  # views, likes, comments, shares, watch_ms, completions

# Profile signal weights per event kind (tags and creator of the video get the same weight).
PROFILE_WEIGHTS = {"view": 0.1, "progress": 0.3, "complete": 1.0, "skip": -0.5, "like": 2.0, "share": 3.0,
                   "comment": 1.5}
# Trending weights per event kind.
TREND_WEIGHTS = {"view": 1.0, "complete": 1.0, "like": 3.0, "comment": 2.0, "share": 5.0}


class Keys:
    def __init__(self, prefix: str = "rf:") -> None:
        self.p = prefix

    def pool(self, user: str) -> str:
        return f"{self.p}pool:{user}"

    def pool_source(self, user: str) -> str:
        return f"{self.p}pool:{user}:src"

    def user_vector(self, user: str) -> str:
        return f"{self.p}uvec:{user}"

    def seen(self, user: str, session: str) -> str:
        return f"{self.p}seen:{user}:{session}"

    def view_dedup(self, user: str, video: str, at: float) -> str:
        return f"{self.p}vd:{user}:{video}:{datetime.fromtimestamp(at, UTC):%Y%m%d%H}"

    def counter(self, video: str) -> str:
        return f"{self.p}cnt:{video}"

    @property
    def dirty(self) -> str:
        return f"{self.p}cnt:dirty"

    def profile(self, user: str) -> str:
        return f"{self.p}prof:{user}"

    def trend(self, region: str, at: float) -> str:
        return f"{self.p}trend:{region}:{int(at // TREND_PERIOD_S)}"

    def trend_snapshot(self, region: str) -> str:
        return f"{self.p}trendsnap:{region}"

    def viewer(self, user: str) -> str:
        return f"{self.p}viewer:{user}"

    def card(self, video: str) -> str:
        return f"{self.p}card:{video}"

    def session_version(self, user: str) -> str:
        return f"{self.p}sv:{user}"

    def rate(self, subject: str, budget: str = "") -> str:
        """The general budget's key, or a class's own (``budget``: signup, comment, ...)."""
        return f"{self.p}rl:{budget}:{subject}" if budget else f"{self.p}rl:{subject}"


# ------------------------------------------------------------------------------------------- Lua scripts
# Atomic read-and-reset of a counter hash, so increments that land during a flush wait for the next one.
TAKE_COUNTERS = """
local v = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return v
"""

# Decay the whole profile to now, add the new weights, keep the strongest fields. Profiles are small.
UPDATE_PROFILE = """
local now = tonumber(ARGV[1])
local t = tonumber(redis.call('HGET', KEYS[1], '_t') or ARGV[1])
local f = 2 ^ (-(now - t) / tonumber(ARGV[2]))
local all = redis.call('HGETALL', KEYS[1])
local vals = {}
for i = 1, #all, 2 do
  if all[i] ~= '_t' then vals[all[i]] = tonumber(all[i + 1]) * f end
end
for i = 5, #ARGV, 2 do vals[ARGV[i]] = (vals[ARGV[i]] or 0) + tonumber(ARGV[i + 1]) end
local items = {}
for k, v in pairs(vals) do if math.abs(v) >= 0.01 then items[#items + 1] = {k, v} end end
table.sort(items, function(a, b) return math.abs(a[2]) > math.abs(b[2]) end)
redis.call('DEL', KEYS[1])
local args = {'_t', ARGV[1]}
for i = 1, math.min(#items, tonumber(ARGV[3])) do
  args[#args + 1] = items[i][1]
  args[#args + 1] = string.format('%.6g', items[i][2])
end
redis.call('HSET', KEYS[1], unpack(args))
redis.call('EXPIRE', KEYS[1], ARGV[4])
return #items
"""

# The best ARGV[1] pool entries the session has not seen, scanning the pool in chunks: the pool's size
# (0 = no pool: build one), then (id, score, cached card or nil) per entry. Filtering and the card reads in
# Redis keep seen ids off the wire and save the API a round trip. The card keys (ARGV[2] + id) are not
# declared in KEYS, so this needs a single Redis (or a cluster where pool, seen and cards share a slot).
_POOL_UNSEEN_FN = """
local function pool_unseen(pool, seen, n, card_prefix)
  local size = redis.call('ZCARD', pool)
  local out = {size}
  local found = 0
  local start = 0
  while found < n and start < size do
    local ids = redis.call('ZREVRANGE', pool, start, start + 199, 'WITHSCORES')
    for i = 1, #ids, 2 do
      if redis.call('SISMEMBER', seen, ids[i]) == 0 then
        out[#out + 1] = ids[i]
        out[#out + 1] = ids[i + 1]
        out[#out + 1] = redis.call('GET', card_prefix .. ids[i])
        found = found + 1
        if found >= n then break end
      end
    end
    start = start + 200
  end
  return out
end
"""
POOL_UNSEEN = _POOL_UNSEEN_FN + "return pool_unseen(KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2])\n"

# After a page is chosen: mark its ids seen (KEYS[1], TTL ARGV[1]) and return the live counter deltas of
# those that have any, as (id, [field, value, ...]) pairs, in one reply. Counter keys are ARGV[2] + id.
MARK_SEEN = """
redis.call('SADD', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[1])
local out = {}
for i = 3, #ARGV do
  local h = redis.call('HGETALL', ARGV[2] .. ARGV[i])
  if #h > 0 then
    out[#out + 1] = ARGV[i]
    out[#out + 1] = h
  end
end
return out
"""

# GCRA (generic cell rate algorithm) on Redis's clock: 0 when allowed, else milliseconds to wait.
_GCRA_FN = """
local function gcra(key, interval, tolerance)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  if now < tat - tolerance then return tat - tolerance - now end
  local new = tat + interval
  redis.call('SET', key, new, 'PX', math.ceil(new - now + 1000))
  return 0
end
"""
GCRA = _GCRA_FN + "return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))\n"

# A For You page's first round trip as one script call (one command to pack, send and parse instead of five):
# the general rate limit (KEYS[1]; ARGV[1..2] as GCRA), the pool head (KEYS[2..3]; ARGV[3..4] as POOL_UNSEEN),
# the profile hash (KEYS[4], flat), the viewer blob (KEYS[5]) and, when KEYS[6] is given, the user vector.
# Returns {wait_ms, head, profile, viewer or nil, user vector or nil}.
FOR_YOU_HEAD = _GCRA_FN + _POOL_UNSEEN_FN + """
local wait = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
local head = pool_unseen(KEYS[2], KEYS[3], tonumber(ARGV[3]), ARGV[4])
local uvec = false
if #KEYS >= 6 then uvec = redis.call('GET', KEYS[6]) end
return {wait, head, redis.call('HGETALL', KEYS[4]), redis.call('GET', KEYS[5]), uvec}
"""

# Give back one cell of a GCRA budget (a sign-in that succeeded returns the attempt it spent).
GCRA_REFUND = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
local new = tat - tonumber(ARGV[1])
if new <= now then redis.call('DEL', KEYS[1])
else redis.call('SET', KEYS[1], new, 'PX', math.ceil(new - now + 1000)) end
return 0
"""

# A user's session version only grows: a slow writer with an older value never lowers the cached one.
SESSION_VERSION_MAX = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
return 0
"""


def trend_weight(kind: str, at: float, weight: float | None = None) -> float:
    """Forward decay: an event's weight grows 2x per half-life since its period started."""
    w = TREND_WEIGHTS.get(kind, 0.0) if weight is None else weight
    return w * 2 ** ((at % TREND_PERIOD_S) / TREND_HALF_LIFE_S)


def profile_args(now: float, weights: Mapping[str, float]) -> list[object]:
    args: list[object] = [int(now), PROFILE_HALF_LIFE_S, PROFILE_MAX_FIELDS, PROFILE_TTL_S]
    for field, w in weights.items():
        args += [field, round(w, 6)]
    return args


def profile_fields(tags: Iterable[str], creator: str | None, weight: float) -> dict[str, float]:
    fields = {f"t:{t}": weight for t in tags}
    if creator:
        fields[f"c:{creator}"] = weight
    return fields


def parse_profile(raw: Mapping[bytes | str, bytes | str]) -> tuple[dict[str, float], dict[str, float]]:
    """(tag weights, creator weights) from a ``prof:{user}`` hash (a uniform decay factor does not matter
    to ranking, so reads skip it)."""
    tags: dict[str, float] = {}
    creators: dict[str, float] = {}
    for k, v in raw.items():
        k = k.decode() if isinstance(k, bytes) else k
        if k.startswith("t:"):
            tags[k[2:]] = float(v)
        elif k.startswith("c:"):
            creators[k[2:]] = float(v)
    return tags, creators


# ------------------------------------------------------------------------------------------- writers
def write_pool(r: redis.Redis, keys: Keys, user_id: str, scored: Iterable[tuple[str, float]], *,
               source: str = "simple", ttl_s: int = POOL_TTL_S) -> int:
    """Replace a user's candidate pool atomically (readers never see it half-written)."""
    mapping = {vid: float(score) for vid, score in scored if math.isfinite(score)}
    pipe = r.pipeline(transaction=True)
    pipe.delete(keys.pool(user_id))
    if mapping:
        pipe.zadd(keys.pool(user_id), mapping)
        pipe.expire(keys.pool(user_id), ttl_s)
    pipe.set(keys.pool_source(user_id), source, ex=ttl_s)
    pipe.execute()
    return len(mapping)


def encode_user_vector(version: str, vec: np.ndarray) -> str:
    return f"{version}:{base64.b64encode(np.asarray(vec, '<f4').tobytes()).decode()}"


def decode_user_vector(raw: str | bytes) -> tuple[str, np.ndarray]:
    """(two-tower version, float32 vector); ValueError for anything that is not what the writer writes."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    version, sep, blob = text.rpartition(":")
    if not sep or not version:
        raise ValueError("user vector without a version")
    try:
        data = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"user vector is not base64: {exc}") from exc
    if not data or len(data) % 4:
        raise ValueError(f"user vector of {len(data)} bytes is not float32s")
    return version, np.frombuffer(data, "<f4")


def write_user_vectors(r: redis.Redis, keys: Keys, vectors: Iterable[tuple[str, np.ndarray]], *, version: str,
                       ttl_s: int = POOL_TTL_S, batch: int = 1000) -> int:
    """Set each user's vector (tagged with the two-tower ``version``), pipelined ``batch`` at a time. One SET
    per user is atomic on its own; nothing needs the users switched together (each page reads one)."""
    written = 0
    pipe = r.pipeline(transaction=False)
    for user, vec in vectors:
        pipe.set(keys.user_vector(user), encode_user_vector(version, vec), ex=ttl_s)
        written += 1
        if written % batch == 0:
            pipe.execute()
    pipe.execute()
    return written


def read_pool(r: redis.Redis, keys: Keys, user_id: str, limit: int = 500) -> list[tuple[str, float]]:
    return [(v.decode() if isinstance(v, bytes) else v, s)
            for v, s in r.zrevrange(keys.pool(user_id), 0, limit - 1, withscores=True)]


def flush_counters(r: redis.Redis, keys: Keys, unit_of_work: Callable[[], AbstractContextManager[Session]], *,
                   batch: int = 500) -> int:
    """Move live counter deltas into ``videos.*`` totals; the number of videos flushed.

    A CLI command (``reelflow counters flush``) and, later, a DAG call this. Deltas are taken atomically;
    if PostgreSQL refuses them they are put back, so a failed flush loses nothing.
    """
    take = r.register_script(TAKE_COUNTERS)
    flushed = 0
    while True:
        ids = [v.decode() if isinstance(v, bytes) else v for v in (r.spop(keys.dirty, batch) or [])]
        if not ids:
            return flushed
        pipe = r.pipeline(transaction=False)
        for vid in ids:
            take(keys=[keys.counter(vid)], client=pipe)
        deltas: dict[str, dict[str, int]] = {}
        for vid, flat in zip(ids, pipe.execute(), strict=True):
            pairs = dict(zip(flat[::2], flat[1::2], strict=True))
            deltas[vid] = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in pairs.items()}
        try:
            with unit_of_work() as session:
                counters.add_deltas(session, deltas)
        except Exception:
            pipe = r.pipeline(transaction=False)
            for vid, d in deltas.items():
                for name, n in d.items():
                    pipe.hincrby(keys.counter(vid), name, n)
                pipe.sadd(keys.dirty, vid)
            pipe.execute()
            raise
        r.delete(*(keys.card(vid) for vid in ids))  # cached cards carry the old totals
        flushed += len(ids)


def now_s() -> float:
    return time.time()


def dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)
