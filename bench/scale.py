"""Scale-out benchmark: the search catalogue on PostgreSQL at N synthetic segments (default 1 million).

    python bench/scale.py [--segments 1000000] [--url postgresql://…] [--queries 50] [--ingest-videos 200]

Without --url a throwaway cluster is started (pipeline.testing.postgres; shared_buffers 512MB) and removed at the
end. The text comes from bench/search.py's generator (Zipf vocabularies, real words planted at known ranks, one
video in eight Korean with particles attached), so the figures compare with the SQLite benchmark.

Measured:
* bulk load: COPY of every table with the search indexes dropped, then the three indexes built (English tsvector
  GIN, Hangul-bigram GIN, pg_trgm GIN) — what `clipwatch migrate` or a large import costs;
* ingest rate: whole transcripts written through ``PostgresCatalogue.replace_transcript`` with every index live
  (what one worker's transcribe stage pays per video), from one process and from two at once;
* query latency (p50/p95/max) through ``pipeline.search.search`` (limit 20, hits with snippets, keyframes and the
  paired line) for word, phrase, filtered and Korean 2- and 3-syllable queries.

Ingest and queries are measured twice on the same load: first with the GIN indexes alone (every match ranked with
ts_rank_cd, as on a server without the RUM extension), then after building migration 0008's RUM indexes (timed),
which rank inside the index (``ORDER BY fts <=> query``).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from search import (  # noqa: E402
    CHANNELS,
    EN_VOCAB,
    KO_VOCAB,
    PARTICLES,
    PLANTED_EN,
    PLANTED_KO,
    SEGMENTS_PER_VIDEO,
    WORDS_PER_SEGMENT,
    hangul_words,
    pct,
    plant,
    pseudo_words,
    time_queries,
    zipf_p,
)

from pipeline.asr import Segment, Transcript  # noqa: E402
from pipeline.search.fulltext import SearchQuery  # noqa: E402
from pipeline.storage.postgres import hangul  # noqa: E402
from pipeline.storage.postgres.catalogue import PostgresCatalogue  # noqa: E402

INDEXES = {  # as migrations 0007 (normalised search) leaves them
    "segments_fts": "CREATE INDEX segments_fts ON segments USING gin (fts) WHERE flags = ''",
    "segments_fts_doubt": "CREATE INDEX segments_fts_doubt ON segments USING gin (fts) WHERE flags <> ''",
    "segments_bigrams": "CREATE INDEX segments_bigrams ON segments USING gin (bigrams)",
    "segments_trgm": "CREATE INDEX segments_trgm ON segments USING gin ((COALESCE(norm, text)) gin_trgm_ops)",
}
# Rows a video-hour adds to segments: base on real read speech (LibriVox, pocketsphinx-testdata) cut 24.7 s into 7
# lines (3.5 s each) = ~1,000 lines an hour; a Korean video with its translation stores both, so ~2,000.
SEGMENTS_PER_VIDEO_HOUR = 2000
# migration 0008: ranking inside the index (RUM); built after the ts_rank_cd figures, so one load measures both
RUM_INDEXES = {  # migration 0008
    "segments_fts_rum": "CREATE INDEX segments_fts_rum ON segments USING rum (fts rum_tsvector_ops) WHERE flags = ''",
}


def texts_for(vi: int, n_here: int, vocab: dict, rng: random.Random, nrng: np.random.Generator) -> tuple[str, list[str]]:
    korean = vi % 8 == 0
    words_v, p = (vocab["ko"], vocab["ko_p"]) if korean else (vocab["en"], vocab["en_p"])
    lengths = nrng.integers(WORDS_PER_SEGMENT[0], WORDS_PER_SEGMENT[1] + 1, n_here)
    idx = nrng.choice(len(words_v), size=int(lengths.sum()), p=p)
    out, pos = [], 0
    for si, ln in enumerate(lengths):
        words = [words_v[j] for j in idx[pos:pos + ln]]
        pos += ln
        if korean:
            words = [w + PARTICLES[(j * 7 + si) % len(PARTICLES)] for j, w in enumerate(words)]
            out.append(" ".join(words))
        else:
            t = " ".join(words)
            out.append(t[0].upper() + t[1:] + ".")
    return ("ko" if korean else "en"), out


def bulk_load(c: PostgresCatalogue, n_segments: int, vocab: dict, seed: int = 7) -> dict:
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    n_videos = math.ceil(n_segments / SEGMENTS_PER_VIDEO)
    for name in (*INDEXES, *RUM_INDEXES):
        c.conn.execute(f"DROP INDEX IF EXISTS {name}")
    samples: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    done = 0
    step = 2000
    for v0 in range(0, n_videos, step):
        v1 = min(v0 + step, n_videos)
        with c.conn.transaction(), c.conn.cursor() as cur:
            with cur.copy("COPY videos(id, extractor, platform_id, webpage_url, source_url, title, channel, upload_date, "
                          "duration, language, status, media_sha256, archived_at) FROM STDIN") as cp:
                for vi in range(v0, v1):
                    cp.write_row((f"synth-{vi:07d}", "synth", str(vi), f"https://www.youtube.com/watch?v={vi}",
                                  f"https://www.youtube.com/watch?v={vi}", f"Synthetic video {vi}",
                                  f"Channel {vi % CHANNELS}", f"{2010 + vi % 15}-{1 + vi % 12:02d}-{1 + vi % 28:02d}",
                                  SEGMENTS_PER_VIDEO * 6.0, "ko" if vi % 8 == 0 else "en",
                                  "removed" if vi % 50 == 0 else "available", f"{vi:064x}", "2025-01-01T00:00:00Z"))
            with cur.copy("COPY tags(video_id, category, score, decision, evidence, origin, model_version, created_at) "
                          "FROM STDIN") as cp:
                for vi in range(v0, v1):
                    cp.write_row((f"synth-{vi:07d}", "news", (vi % 10) / 10, int(vi % 10 >= 5), "[]", "model", "bench",
                                  "2025-01-01T00:00:00Z"))
            with cur.copy("COPY transcripts(id, video_id, media_sha256, kind, language, model, engine, created_at) "
                          "FROM STDIN") as cp:
                for vi in range(v0, v1):
                    cp.write_row((vi + 1, f"synth-{vi:07d}", f"{vi:064x}", "original", "ko" if vi % 8 == 0 else "en",
                                  "synthetic", "bench", "2025-01-01T00:00:00Z"))
            with cur.copy('COPY segments(transcript_id, video_id, idx, start, "end", text, flags, bigrams) '
                          "FROM STDIN") as cp:
                for vi in range(v0, v1):
                    n_here = min(SEGMENTS_PER_VIDEO, n_segments - done)
                    if n_here <= 0:
                        break
                    lang, texts = texts_for(vi, n_here, vocab, rng, nrng)
                    for si, text in enumerate(texts):
                        cp.write_row((vi + 1, f"synth-{vi:07d}", si, si * 6.0, si * 6.0 + 5.5, text, "",
                                      hangul.tsvector_literal(text)))
                        if rng.random() < 0.0005:
                            samples.append((lang, text))
                    done += n_here
        el = time.perf_counter() - t0
        print(f"  loaded {done:>10,} segments  {done / el:,.0f}/s", file=sys.stderr, flush=True)
    load_s = time.perf_counter() - t0
    c.conn.execute("SELECT setval(pg_get_serial_sequence('transcripts', 'id'), %s)", (n_videos + 1,))
    index_s = {}
    c.conn.execute("SET maintenance_work_mem = '512MB'")
    for name, sql in INDEXES.items():
        t = time.perf_counter()
        c.conn.execute(sql)
        index_s[name] = time.perf_counter() - t
        print(f"  index {name}: {index_s[name]:.1f} s", file=sys.stderr, flush=True)
    t = time.perf_counter()
    c.conn.execute("VACUUM ANALYZE")
    analyze_s = time.perf_counter() - t
    return {"segments": done, "videos": n_videos, "load_s": load_s, "index_s": index_s, "analyze_s": analyze_s,
            "samples": samples}


def ingest_rate(c: PostgresCatalogue, n_videos: int, vocab: dict, first: int) -> tuple[float, float]:
    """Transcripts written one video at a time through the catalogue, all indexes live: (videos/s, segments/s)."""
    rng, nrng = random.Random(99), np.random.default_rng(99)
    t0 = time.perf_counter()
    segs = 0
    for k in range(n_videos):
        vi = first + k
        vid = f"ingest-{vi:07d}"
        c.conn.execute("INSERT INTO videos(id, extractor, platform_id, webpage_url, source_url, archived_at, language) "
                       "VALUES (%s, 'synth', %s, %s, %s, '2025-01-01T00:00:00Z', 'en')",
                       (vid, str(vi), f"https://x/{vi}", f"https://x/{vi}"))
        lang, texts = texts_for(vi, SEGMENTS_PER_VIDEO, vocab, rng, nrng)
        tr = Transcript(language=lang, language_probability=0.9, duration=300.0, model="synthetic", engine="bench",
                        engine_version="0", task="transcribe",
                        segments=[Segment(start=i * 6.0, end=i * 6.0 + 5.5, text=t) for i, t in enumerate(texts)])
        c.replace_transcript(vid, f"{vi:064x}", "original", tr, None)
        segs += len(texts)
    el = time.perf_counter() - t0
    return n_videos / el, segs / el


def _ingest_worker(args: tuple[str, int, int]) -> tuple[int, float]:
    url, n_videos, first = args
    rng = random.Random(7)
    vocab = {"en": plant(pseudo_words(EN_VOCAB, rng), PLANTED_EN), "ko": plant(hangul_words(KO_VOCAB, rng), PLANTED_KO)}
    vocab["en_p"], vocab["ko_p"] = zipf_p(len(vocab["en"])), zipf_p(len(vocab["ko"]))
    with PostgresCatalogue(url) as c:
        t0 = time.perf_counter()
        ingest_rate(c, n_videos, vocab, first)
        return n_videos * SEGMENTS_PER_VIDEO, time.perf_counter() - t0


def parallel_ingest(url: str, workers: int, n_videos: int, first: int) -> float:
    """Segments/s when ``workers`` processes write transcripts at once (each its own connection), all indexes live."""
    from multiprocessing import get_context

    with get_context("spawn").Pool(workers) as pool:
        done = pool.map(_ingest_worker, [(url, n_videos, first + i * n_videos) for i in range(workers)])
    # timed inside each worker (process start and imports left out); the writers overlap, so the slowest one counts
    return sum(n for n, _ in done) / max(t for _, t in done)


def make_queries(vocab: dict, samples: list[tuple[str, str]], n: int, seed: int = 11) -> dict[str, list[SearchQuery]]:
    rng = random.Random(seed)
    en, ko = vocab["en"], vocab["ko"]
    rank = {w: i + 1 for i, w in enumerate(en)}

    def mid_word() -> str:
        return en[int(math.exp(rng.uniform(math.log(100), math.log(20000)))) - 1]

    en_samples = [t for lang, t in samples if lang == "en"] or ["Harvest nuclear deterrent ministry."]

    def phrase() -> str:
        for _ in range(1000):
            words = rng.choice(en_samples).rstrip(".").lower().split()
            i = rng.randrange(len(words) - 1)
            if min(rank.get(words[i], 1), rank.get(words[i + 1], 1)) > 50:
                return f'"{words[i]} {words[i + 1]}"'
        return '"nuclear deterrent"'

    def ko_sub(length: int) -> str:
        while True:
            word = ko[int(math.exp(rng.uniform(math.log(100), math.log(len(ko))))) - 1] + rng.choice(PARTICLES)
            if len(word) >= length:
                i = rng.randrange(len(word) - length + 1)
                return word[i:i + length]

    return {
        "word (rank 100-20k)": [SearchQuery(mid_word()) for _ in range(n)],
        "word, common (rank 10-100)": [SearchQuery(en[rng.randrange(9, 100)]) for _ in range(max(10, n // 5))],
        "phrase (2 words)": [SearchQuery(phrase()) for _ in range(n)],
        "filtered (channel)": [SearchQuery(mid_word(), channel=f"Channel {rng.randrange(CHANNELS)}") for _ in range(n)],
        "filtered (dates+status+category)": [
            SearchQuery(mid_word(), since=f"{y}-01-01", until=f"{y + 2}-12-31", status="available", category="news",
                        min_score=0.5) for y in (rng.randrange(2010, 2022) for _ in range(n))],
        "sorted by date": [SearchQuery(mid_word(), sort="date") for _ in range(n)],
        "Korean 2 syllables (bigram)": [SearchQuery(ko_sub(2)) for _ in range(n)],
        "Korean 3 syllables (bigram phrase)": [SearchQuery(ko_sub(3)) for _ in range(n)],
        "Korean word 핵무력 (rank 300)": [SearchQuery("핵무력") for _ in range(max(10, n // 5))],
        "Korean 2 syllables 경제 (rank 50)": [SearchQuery("경제") for _ in range(max(10, n // 5))],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segments", type=int, default=1_000_000)
    ap.add_argument("--url", default=None, help="an empty PostgreSQL database (default: a throwaway cluster)")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--ingest-videos", type=int, default=200)
    ap.add_argument("--no-rum", action="store_true", help="measure ts_rank_cd over GIN only (no RUM index build)")
    ap.add_argument("--queries-only", action="store_true",
                    help="a quicker rerun for a change to ranking: no pg_trgm index (no query class here uses it), no "
                         "ingest, no ts_rank_cd phase; load, build the RUM indexes and time the queries")
    args = ap.parse_args()

    rng = random.Random(7)
    vocab = {"en": plant(pseudo_words(EN_VOCAB, rng), PLANTED_EN), "ko": plant(hangul_words(KO_VOCAB, rng), PLANTED_KO)}
    vocab["en_p"], vocab["ko_p"] = zipf_p(len(vocab["en"])), zipf_p(len(vocab["ko"]))

    cluster = None
    url = args.url
    if url is None:
        from pipeline.testing.postgres import PostgresCluster

        cluster = PostgresCluster(settings={"shared_buffers": "512MB", "work_mem": "32MB",
                                            "max_wal_size": "4GB", "checkpoint_timeout": "30min"}).start()
        url = cluster.create_database("bench")
    def measure(c: PostgresCatalogue, label: str, first: int) -> dict:
        """Ingest rates (one process; 1 and 2 writer processes) and query latencies with the indexes there now."""
        print(f"measuring ({label}) ...", file=sys.stderr, flush=True)
        out: dict = {"ingest": None, "parallel": {}}
        if not args.queries_only:
            out["ingest"] = ingest_rate(c, args.ingest_videos, vocab, first)
            out["parallel"] = {w: parallel_ingest(url, w, args.ingest_videos, first + 1_000_000 * w) for w in (1, 2)}
        time_queries(c, [q for qs in queries.values() for q in qs[:3]], archive_dir=Path("/nonexistent"))  # warm the cache as a running server is
        out["rows"] = []
        for name, qs in queries.items():
            times, hits = time_queries(c, qs, archive_dir=Path("/nonexistent"))
            out["rows"].append((name, len(qs), statistics.median(times), pct(times, 0.95), max(times), hits))
            print(f"  {name}: p95 {pct(times, 0.95):.1f} ms", file=sys.stderr, flush=True)
        out["load"] = os.getloadavg()[0]
        return out

    runs: dict[str, dict] = {}
    rum_s: dict[str, float] = {}
    try:
        with PostgresCatalogue(url) as c:
            version = c.conn.execute("SHOW server_version").fetchone()["server_version"]
            print(f"loading {args.segments:,} segments into PostgreSQL {version} ...", file=sys.stderr)
            if args.queries_only:
                INDEXES.pop("segments_trgm")
            info = bulk_load(c, args.segments, vocab)
            size = c.conn.execute("SELECT pg_database_size(current_database()) AS b").fetchone()["b"]
            idx_sizes = {n: c.conn.execute("SELECT pg_relation_size(%s::regclass) AS b", (n,)).fetchone()["b"]
                         for n in INDEXES}
            queries = make_queries(vocab, info["samples"], args.queries)
            if not args.queries_only:
                runs["ts_rank_cd over every match (GIN)"] = measure(c, "GIN, ts_rank_cd", info["videos"] + 1)
            has_rum = c.conn.execute("SELECT count(*) AS n FROM pg_extension WHERE extname = 'rum'").fetchone()["n"]
            if has_rum and not args.no_rum:
                c.conn.execute("SET maintenance_work_mem = '512MB'")
                for name, sql in RUM_INDEXES.items():
                    t = time.perf_counter()
                    c.conn.execute(sql)
                    rum_s[name] = time.perf_counter() - t
                    idx_sizes[name] = c.conn.execute("SELECT pg_relation_size(%s::regclass) AS b", (name,)).fetchone()["b"]
                    print(f"  index {name}: {rum_s[name]:.1f} s", file=sys.stderr, flush=True)
                c.conn.execute("ANALYZE segments")
                runs["ranked inside the RUM index (0008)"] = measure(c, "RUM", info["videos"] + 10_000_001)
            elif not has_rum:
                print("the RUM extension is not installed on this server: only the ts_rank_cd figures",
                      file=sys.stderr)
    finally:
        if cluster is not None:
            cluster.stop()

    mib = 1024 * 1024
    print()
    print(f"clipwatch scale benchmark — {info['segments']:,} segments in {info['videos']:,} videos "
          f"(PostgreSQL {version}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    print(f"bulk load (COPY, indexes dropped): {info['load_s']:.1f} s = {info['segments'] / info['load_s']:,.0f} "
          "segments/s (text generation included)")
    print("index build: " + ", ".join(f"{n} {s:.1f} s" for n, s in info["index_s"].items())
          + f"; VACUUM ANALYZE {info['analyze_s']:.1f} s")
    if rum_s:
        print("RUM index build (migration 0008, indexes live): " + ", ".join(f"{n} {t:.1f} s" for n, t in rum_s.items()))
    print(f"database size {size / mib:,.0f} MiB before RUM; indexes: "
          + ", ".join(f"{n} {b / mib:,.0f} MiB" for n, b in idx_sizes.items()))
    for label, r in runs.items():
        print()
        print(f"== {label} (load average {r['load']:.1f} after its queries)")
        if r["ingest"]:
            v_s, s_s = r["ingest"]
            print(f"ingest through replace_transcript, indexes live: {v_s:,.1f} videos/s = {s_s:,.0f} segments/s "
                  f"({args.ingest_videos} videos of {SEGMENTS_PER_VIDEO} segments)")
            print("writers at once (separate processes and connections): "
                  + ", ".join(f"{w}: {x:,.0f} segments/s" for w, x in r["parallel"].items()))
        print(f"{'query':36} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'hits/page':>9}")
        for name, n, p50, p95, mx, hits in r["rows"]:
            print(f"{name:36} {n:>4} {p50:>8.1f} {p95:>8.1f} {mx:>8.1f} {hits:>9.1f}")
    print()
    print(f"projection (bench/README.md): at {SEGMENTS_PER_VIDEO_HOUR:,} segment rows per video-hour (Whisper lines of "
          "~3.5 s, both languages for a translated video), the database takes in")
    for label, r in runs.items():
        if not r["parallel"]:
            continue
        print(f"  {label}: " + ", ".join(f"{w} writer{'s' if w > 1 else ''} {x * 3600 / SEGMENTS_PER_VIDEO_HOUR:,.0f}"
                                        for w, x in r["parallel"].items()) + " video-hours of transcript per hour")


if __name__ == "__main__":
    main()
