"""Search at scale: typical search-box queries over N videos in a scratch PostgreSQL database, beside a plain
``ILIKE '%word%'`` sequential scan over the same rows in the same run.

The catalog is generated and COPYed in: captions of 4-12 words drawn with Zipf frequencies from a generated
vocabulary (pronounceable words), 0-4 hashtags from a Zipf-drawn tag vocabulary, Zipf-drawn sounds, creators
(N/10 users, each with a handle and a two-word display name), follows, engagement counters with a heavy tail,
ages over 90 days, and the mix of states a catalog holds (private, followers-only, deleted, held for review,
processing). Queries are drawn the way people search, popular words more often:

- word: one whole word ("word ");
- two words: both must match;
- typo: a word of 5+ letters with one edit (swap, substitution, deletion or insertion), typed whole;
- prefix: the first 3-6 letters of a word, still being typed (the "results as you type" mode);
- hashtag: "#tag";
- handle: people search for the first 4-8 characters of a handle;
- suggest: the search box's suggestions for a prefix as typed.

Each is timed through ``jobs.search`` (the dictionary look-ups, the candidate query, the ranking), which is the
API's work less HTTP. The baseline for each is what a catalog without search indexes would run: a sequential ILIKE
scan of the caption (the hashtags as text; for people, handles and display names) with the same visibility
rules, the 20 most popular matches; it finds no typo and is timed on fewer queries (each is a scan).

    PYTHONPATH=. .venv/bin/python bench/search.py [--videos 1000000] [--queries 200] [--baseline-queries 10]
"""

from __future__ import annotations

import argparse
import os
import string
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and bench/recommend.py would shadow the
# `recommend` package that jobs.search imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
from sqlalchemy import text  # noqa: E402

from catalog import search as catalog_search  # noqa: E402
from catalog.db import drop_database, ensure_database, make_engine, make_sessionmaker, session_scope  # noqa: E402
from catalog.feeds import Viewer  # noqa: E402
from catalog.migrate import upgrade  # noqa: E402
from catalog.models import DISCOVERABLE_SQL  # noqa: E402
from jobs import search as jobs_search  # noqa: E402
from recommend.search_query import parse  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["sha", "tho", "chi", "qua", "stri", "plo"]


def words(rng: np.random.Generator, n: int, syllables: tuple[int, int]) -> list[str]:
    """``n`` distinct pronounceable words of 2-4 syllables (no real word is needed: search never stems)."""
    out: dict[str, None] = {}
    while len(out) < n:
        k = int(rng.integers(*syllables))
        out["".join(SYLLABLES[i] for i in rng.integers(0, len(SYLLABLES), k))] = None
    return list(out)


def zipf_draw(rng: np.random.Generator, n_items: int, size: int | tuple, s: float = 1.05) -> np.ndarray:
    """Ranks 0..n_items-1 with p(rank r) ~ 1/(r+1)^s (word and tag frequencies are Zipfian)."""
    p = 1.0 / np.arange(1, n_items + 1) ** s
    return rng.choice(n_items, size=size, p=p / p.sum())


def _copy(conn: psycopg.Connection, table: str, columns: list[str], rows: list[tuple]) -> None:
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)


def generate(url: str, n_videos: int, rng: np.random.Generator) -> dict:
    """Fill the catalog; what the queries are drawn from comes back."""
    n_users = max(n_videos // 10, 100)
    vocab = words(rng, 30_000, (2, 5))
    tags = words(rng, 5_000, (2, 4))
    sounds = [f"snd_{w}" for w in words(rng, 20_000, (2, 4))]
    regions = ["eu", "us", "br", "in", "jp", "id", "ng", "mx"]
    first = words(rng, 3_000, (2, 4))
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    user_ids = [f"{i:016x}" for i in range(n_users)]
    handles = [f"{first[rng.integers(len(first))]}{'_' if i % 3 else '.'}{i}" for i in range(n_users)]
    users = [(uid, h, f"{first[rng.integers(len(first))].capitalize()} {first[rng.integers(len(first))].capitalize()}",
              regions[i % len(regions)], now - timedelta(days=float(rng.uniform(0, 400))))
             for i, (uid, h) in enumerate(zip(user_ids, handles, strict=True))]
    # Creators: a Zipf share of the users upload most videos.
    creator_of = zipf_draw(rng, n_users, n_videos, s=0.8)
    lengths = rng.integers(4, 13, n_videos)
    caption_words = zipf_draw(rng, len(vocab), int(lengths.sum()))
    n_tags = rng.choice(5, n_videos, p=[0.2, 0.25, 0.25, 0.2, 0.1])
    tag_draw = zipf_draw(rng, len(tags), int(n_tags.sum()))
    sound_draw = zipf_draw(rng, len(sounds), n_videos)
    # Heavy-tailed engagement: most videos get little, a few go viral.
    views = np.floor(rng.pareto(1.2, n_videos) * 50).astype(np.int64)
    likes = (views * rng.uniform(0.01, 0.1, n_videos)).astype(np.int64)
    # Ids in upload order, oldest first, as a live catalog inserts them (row order follows time on disk).
    age_s = np.sort(rng.uniform(0, 90 * 86400, n_videos))[::-1]
    kind = rng.random(n_videos)
    rows, w_at, t_at = [], 0, 0
    for i in range(n_videos):
        words_i = [vocab[j] for j in caption_words[w_at:w_at + lengths[i]]]
        w_at += lengths[i]
        tags_i = list(dict.fromkeys(tags[j] for j in tag_draw[t_at:t_at + n_tags[i]]))
        t_at += n_tags[i]
        k = kind[i]
        privacy = "private" if k < 0.04 else "followers" if k < 0.07 else "public"
        state = "processing" if 0.07 <= k < 0.09 else "failed" if 0.09 <= k < 0.10 else "ready"
        moderation = "review" if 0.10 <= k < 0.11 else "clear"
        deleted = now if 0.11 <= k < 0.13 else None
        at = now - timedelta(seconds=float(age_s[i]))
        cid = user_ids[creator_of[i]]
        caption = " ".join(words_i) + "".join(f" #{t}" for t in tags_i[:1])
        rows.append((f"{i:016x}", cid, caption, tags_i, tags_i, privacy, sounds[sound_draw[i]],
                     regions[creator_of[i] % len(regions)], int(views[i]), int(likes[i]), int(likes[i] // 10),
                     int(likes[i] // 20), state, moderation, f"raw/{i}", at, at, at if state == "ready" else None,
                     at if state == "ready" else None, deleted))
    gen_s = time.perf_counter() - t0
    follows = {(int(a), int(b)) for a, b in zip(rng.integers(0, n_users, n_users * 20),
                                                  zipf_draw(rng, n_users, n_users * 20, s=0.9), strict=True) if a != b}
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    t0 = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        indexes = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('videos', 'users', "
                               "'follows') AND indexdef NOT LIKE 'CREATE UNIQUE%'").fetchall()
        for name, _ in indexes:  # a bulk load builds its indexes once, afterwards, as a restore would
            conn.execute(f"DROP INDEX {name}")
        with conn.transaction():
            _copy(conn, "users", ["id", "handle", "display_name", "region", "created_at"], users)
            _copy(conn, "videos", ["id", "creator_id", "caption", "hashtags", "tag_keys", "privacy", "sound_id",
                                   "region", "view_count", "like_count", "comment_count", "share_count", "state",
                                   "moderation", "raw_key", "created_at", "updated_at", "playable_at", "ready_at",
                                   "deleted_at"], rows)
            _copy(conn, "follows", ["follower_id", "followee_id"],
                  [(user_ids[a], user_ids[b]) for a, b in follows])
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '512MB'")
        for _, ddl in indexes:
            conn.execute(ddl)
        conn.execute("VACUUM ANALYZE")  # as autovacuum leaves a settled catalog: statistics, visibility map
        index_s = time.perf_counter() - t0
        sizes = dict(conn.execute(
            "SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relname IN ('videos', 'ix_videos_search_doc', "
            "'ix_videos_search_hot', 'ix_users_handle_trgm', 'ix_users_display_name_trgm')").fetchall())
        sizes["videos_toast"] = conn.execute(
            "SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = 'videos'").fetchone()[0]
    print(f"generated {n_videos:,} videos, {n_users:,} users, {len(follows):,} follows in {gen_s:.1f} s; COPY "
          f"{load_s:.1f} s (search_doc and search_hot computed on the way in); indexes and VACUUM ANALYZE "
          f"{index_s:.1f} s", flush=True)
    return {"vocab": vocab, "tags": tags, "handles": handles, "sizes": sizes}


def edit(rng: np.random.Generator, w: str) -> str:
    """One typing error: two letters swapped, one replaced, dropped or doubled (never at the first letter)."""
    i = int(rng.integers(1, len(w) - 1))
    op = int(rng.integers(4))
    if op == 0:
        return w[:i] + w[i + 1] + w[i] + w[i + 2:]
    if op == 1:
        return w[:i] + rng.choice([c for c in string.ascii_lowercase if c != w[i]]) + w[i + 1:]
    if op == 2:
        return w[:i] + w[i + 1:]
    return w[:i] + w[i] + w[i:]


def queries(rng: np.random.Generator, data: dict, n: int) -> dict[str, list[tuple[str, str]]]:
    """(what is typed, the word meant) per kind."""
    vocab, tags, handles = data["vocab"], data["tags"], data["handles"]
    long_words = [i for i, w in enumerate(vocab) if len(w) >= 5]

    def word() -> str:
        return vocab[int(zipf_draw(rng, len(vocab), 1)[0])]

    def long_word() -> str:
        return vocab[long_words[int(zipf_draw(rng, len(long_words), 1)[0])]]

    out: dict[str, list[tuple[str, str]]] = {"word": [], "two words": [], "typo": [], "prefix": [], "hashtag": [],
                                             "handle": [], "suggest": []}
    for _ in range(n):
        w = word()
        out["word"].append((w + " ", w))
        out["two words"].append((f"{w} {word()} ", w))
        lw = long_word()
        out["typo"].append((edit(rng, lw) + " ", lw))
        p = long_word()
        out["prefix"].append((p[:int(rng.integers(3, min(len(p), 7)))], p))
        t = tags[int(zipf_draw(rng, len(tags), 1)[0])]
        out["hashtag"].append(("#" + t + " ", t))
        h = handles[int(rng.integers(len(handles)))]
        out["handle"].append((h[:int(rng.integers(4, 9))], h))
        s = word()
        out["suggest"].append((s[:int(rng.integers(2, min(len(s), 6)))], s))
    return out


def baseline_sql(kind: str, typed: str) -> tuple[str, dict]:
    """The same question without search indexes: an ILIKE scan with the visibility rules, the 20 most popular
    matches (people: the 20 first by id)."""
    words = [w.lstrip("#") for w in typed.split()]
    if kind == "handle":
        return ("SELECT id FROM users WHERE handle ILIKE :p OR display_name ILIKE :p ORDER BY id LIMIT 20",
                {"p": f"%{typed}%"})
    column = "array_to_string(tag_keys, ' ')" if kind == "hashtag" else "caption"
    cond = " AND ".join(f"{column} ILIKE :w{i}" for i in range(len(words)))
    return (f"SELECT id FROM videos WHERE {DISCOVERABLE_SQL} AND {cond} "
            "ORDER BY view_count + 3 * like_count DESC LIMIT 20", {f"w{i}": f"%{w}%" for i, w in enumerate(words)})


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(xs, p)) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200, help="per kind")
    ap.add_argument("--baseline-queries", type=int, default=10, help="per kind (each is a scan of the table)")
    ap.add_argument("--candidates", type=int, default=jobs_search.VIDEO_CANDIDATES,
                    help="videos re-ranked per query (jobs.search.VIDEO_CANDIDATES)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()
    jobs_search.VIDEO_CANDIDATES = args.candidates
    rng = np.random.default_rng(args.seed)
    url = f"{PG}/reelflow_bench_search_{os.getpid()}"
    ensure_database(url)
    engine = make_engine(url)
    try:
        upgrade(url)
        data = generate(url, args.videos, rng)
        sessions = make_sessionmaker(engine)
        t0 = time.perf_counter()
        with session_scope(sessions) as s:
            counts = catalog_search.refresh_terms(s)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE search_terms"))
            data["sizes"].update(dict(c.execute(text(
                "SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relname = 'search_terms' "
                "OR relname LIKE 'ix_search_terms_%'")).all()))
        print(f"dictionary rebuilt in {time.perf_counter() - t0:.1f} s: {counts}", flush=True)
        mib = {k: round(v / 2**20, 1) for k, v in sorted(data["sizes"].items())}
        print(f"sizes (MiB): {mib}", flush=True)

        asked = queries(rng, data, args.queries)
        as_of = datetime.now(UTC)
        viewer = Viewer("0" * 16)
        results: dict[str, dict] = {}
        for kind, qs in asked.items():
            lat, found, hits = [], [], 0
            with session_scope(sessions) as s:
                def run(typed: str, kind: str = kind, s=s) -> tuple[int, dict[str, list[str]]]:
                    """(results, typo corrections) for one query as the API would search it."""
                    if kind == "handle":
                        return len(jobs_search.search_users(s, viewer.user_id, typed)), {}
                    if kind == "suggest":
                        return len(jobs_search.suggest(s, viewer, typed)), {}
                    res = jobs_search.search_videos(s, viewer, parse(typed), as_of=as_of)
                    return len(res.ids), res.corrections
                for typed, _ in qs[:5]:  # warm the caches this kind touches
                    run(typed)
                for typed, meant in qs:
                    t0 = time.perf_counter()
                    n, corrected = run(typed)
                    lat.append((time.perf_counter() - t0) * 1000)
                    found.append(n)
                    hits += any(meant in alts for alts in corrected.values())
            base = []
            with engine.connect() as c:
                for typed, _ in qs[:args.baseline_queries]:
                    sql, params = baseline_sql(kind if kind != "suggest" else "prefix", typed)
                    t0 = time.perf_counter()
                    c.execute(text(sql), params).all()
                    base.append((time.perf_counter() - t0) * 1000)
            results[kind] = dict(p50=pct(lat, 50), p99=pct(lat, 99), found=float(np.mean(found)),
                                 empty=sum(n == 0 for n in found) / len(found), b50=pct(base, 50), b99=pct(base, 99),
                                 typo_hits=hits / len(qs) if kind == "typo" else None)
            r = results[kind]
            print(f"  {kind:9} p50 {r['p50']:7.2f} ms  p99 {r['p99']:7.2f} ms  (ILIKE baseline p50 {r['b50']:8.1f} ms"
                  f"  p99 {r['b99']:8.1f} ms)", flush=True)

        print(f"\n== {args.videos:,} videos, {args.queries} queries per kind, {args.candidates} candidates re-ranked, "
              f"baseline {args.baseline_queries} queries per kind ==")
        print(f"{'query':10} {'p50 ms':>8} {'p99 ms':>8} {'results':>8} {'empty':>6} {'ILIKE p50':>10} "
              f"{'ILIKE p99':>10}")
        for kind, r in results.items():
            print(f"{kind:10} {r['p50']:8.2f} {r['p99']:8.2f} {r['found']:8.1f} {r['empty']:6.0%} {r['b50']:10.1f} "
                  f"{r['b99']:10.1f}")
        print(f"typo queries whose intended word was searched: {results['typo']['typo_hits']:.0%} "
              f"(the ILIKE baseline finds none of them)")
    finally:
        engine.dispose()
        if not args.keep_db:
            drop_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
