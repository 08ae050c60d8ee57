"""Search benchmark: a synthetic catalogue of N segments (default 1 million), then query latency.

    python bench/search.py [--segments 1000000] [--db PATH] [--keep] [--queries 100] [--semantic]

Text is drawn from Zipf-distributed vocabularies (English-like pseudo-words with
a few real words planted at known ranks; ~12% of videos Korean, with particles
attached to words so that substring search matters). Segments are inserted
through the real schema, so both FTS5 indexes are filled by the triggers, as in
ingest. Every query goes through ``pipeline.search.search`` (limit 20, hits built
with snippets, keyframes and translations), i.e. what the CLI and web UI pay.
Prints build rate, index size on disk and p50/p95/max latency per query kind.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.search.facade import SearchQuery, search  # noqa: E402
from pipeline.search.views import TrendQuery, trends  # noqa: E402
from pipeline.storage.sqlite.catalogue import Store  # noqa: E402
from pipeline.storage.sqlite.search import TABLES, optimize_search_index  # noqa: E402

SEGMENTS_PER_VIDEO = 50
WORDS_PER_SEGMENT = (8, 18)
EN_VOCAB = 50_000
KO_VOCAB = 20_000
ZIPF_S = 1.05
# Real words planted at a given frequency rank (rank 1 is the commonest).
PLANTED_EN = {"the": 1, "of": 3, "people": 40, "leader": 120, "nuclear": 400, "deterrent": 2500, "harvest": 900,
              "missile": 1500, "economic": 300, "construction": 600, "ministry": 2000, "statement": 800}
PLANTED_KO = {"핵무력": 300, "경제": 50, "건설": 120, "인민": 20, "원수님": 200, "미사일": 900}
PARTICLES = ["", "", "", "을", "를", "은", "는", "이", "가", "의", "에", "에서", "으로", "과", "와", "도"]
CHANNELS = 200


def pseudo_words(n: int, rng: random.Random) -> list[str]:
    cons, vows = "bcdfghjklmnprstvwz", "aeiou"
    seen, out = set(), []
    while len(out) < n:
        syl = rng.randint(1, 4)
        w = "".join(rng.choice(cons) + rng.choice(vows) + (rng.choice(cons) if rng.random() < 0.3 else "") for _ in range(syl))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def hangul_words(n: int, rng: random.Random) -> list[str]:
    seen, out = set(), []
    while len(out) < n:
        syl = rng.randint(2, 4)
        w = "".join(chr(0xAC00 + rng.randrange(11172)) for _ in range(syl))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def plant(vocab: list[str], planted: dict[str, int]) -> list[str]:
    vocab = [w for w in vocab if w not in planted]
    for w, rank in sorted(planted.items(), key=lambda kv: kv[1]):
        vocab.insert(rank - 1, w)
    return vocab


def zipf_p(n: int) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1) ** ZIPF_S
    return p / p.sum()


def build(db_path: Path, n_segments: int, seed: int = 7) -> dict:
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    en = plant(pseudo_words(EN_VOCAB, rng), PLANTED_EN)
    ko = plant(hangul_words(KO_VOCAB, rng), PLANTED_KO)
    en_p, ko_p = zipf_p(len(en)), zipf_p(len(ko))
    n_videos = math.ceil(n_segments / SEGMENTS_PER_VIDEO)
    store = Store(db_path)
    db = store.db
    db.execute("PRAGMA synchronous=NORMAL")
    t0 = time.perf_counter()
    done = 0
    batch_videos = 200
    sample_segments: list[tuple[str, str]] = []
    for v0 in range(0, n_videos, batch_videos):
        db.execute("BEGIN")
        for vi in range(v0, min(v0 + batch_videos, n_videos)):
            korean = vi % 8 == 0
            lang = "ko" if korean else "en"
            vid = f"synth-{vi:07d}"
            year = 2010 + vi % 15
            db.execute(
                "INSERT INTO videos(id, extractor, platform_id, webpage_url, source_url, title, channel, upload_date, duration,"
                " language, status, media_sha256, archived_at) VALUES (?, 'synth', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '2025-01-01T00:00:00Z')",
                (vid, str(vi), f"https://www.youtube.com/watch?v={vi}", f"https://www.youtube.com/watch?v={vi}",
                 f"Synthetic video {vi}", f"Channel {vi % CHANNELS}", f"{year}-{1 + vi % 12:02d}-{1 + vi % 28:02d}",
                 SEGMENTS_PER_VIDEO * 6.0, lang, "removed" if vi % 50 == 0 else "available", f"{vi:064x}"),
            )
            db.execute(
                "INSERT INTO tags(video_id, category, score, decision, evidence, origin, model_version, created_at)"
                " VALUES (?, 'news', ?, ?, '[]', 'model', 'bench', '2025-01-01T00:00:00Z')",
                (vid, (vi % 10) / 10, int(vi % 10 >= 5)),
            )
            cur = db.execute(
                "INSERT INTO transcripts(video_id, media_sha256, kind, language, model, engine, created_at)"
                " VALUES (?, ?, 'original', ?, 'synthetic', 'bench', '2025-01-01T00:00:00Z')",
                (vid, f"{vi:064x}", lang),
            )
            tid = cur.lastrowid
            n_here = min(SEGMENTS_PER_VIDEO, n_segments - done)
            if n_here <= 0:
                break
            lengths = nrng.integers(WORDS_PER_SEGMENT[0], WORDS_PER_SEGMENT[1] + 1, n_here)
            idx = nrng.choice(len(ko) if korean else len(en), size=int(lengths.sum()), p=ko_p if korean else en_p)
            vocab = ko if korean else en
            rows, pos = [], 0
            for si, ln in enumerate(lengths):
                words = [vocab[j] for j in idx[pos:pos + ln]]
                pos += ln
                if korean:
                    words = [w + PARTICLES[(j * 7 + si) % len(PARTICLES)] for j, w in enumerate(words)]
                text = " ".join(words)
                if not korean:
                    text = text[0].upper() + text[1:] + "."
                rows.append((tid, vid, si, si * 6.0, si * 6.0 + 5.5, text))
                if rng.random() < 0.0005:
                    sample_segments.append((lang, text))
            before = db.execute("SELECT COALESCE(max(id), 0) FROM segments").fetchone()[0]
            db.executemany("INSERT INTO segments(transcript_id, video_id, idx, start, end, text) VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.execute("INSERT INTO transcript_segments VALUES (?, ?, ?)", (tid, before + 1, before + len(rows)))  # as replace_transcript does
            done += n_here
        db.execute("COMMIT")
        if (v0 // batch_videos) % 25 == 0:
            el = time.perf_counter() - t0
            print(f"  built {done:>9,} segments  {done / el:,.0f}/s", file=sys.stderr, flush=True)
    build_s = time.perf_counter() - t0
    # Ingest's trigger path flushes FTS5 per row (triggers open a savepoint), leaving many small index
    # segments; merging them (optimize) is what a large import or a nightly job would do.
    t1 = time.perf_counter()
    optimize_search_index(db)
    optimize_s = time.perf_counter() - t1
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return {"segments": done, "videos": n_videos, "build_s": build_s, "optimize_s": optimize_s, "en": en, "ko": ko,
            "samples": sample_segments}


def sizes(db_path: Path) -> dict[str, int]:
    out = {"file": db_path.stat().st_size}
    con = sqlite3.connect(str(db_path))
    try:
        rows = con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
        groups = {t: 0 for t in TABLES} | {"segments": 0, "segment_norm": 0}
        for name, size in rows:
            for g in sorted(groups, key=len, reverse=True):  # segments_fts_data belongs to segments_fts only
                if name == g or name.startswith(g + "_"):
                    groups[g] += size
                    break
        out.update(groups)
    except sqlite3.Error:
        pass
    finally:
        con.close()
    return out


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    k = (len(v) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def time_each(items: list, run, count) -> tuple[list[float], float]:
    """Milliseconds of ``run(item)`` for each item, and the mean of ``count(result)``."""
    times, total = [], 0
    for item in items:
        t = time.perf_counter()
        res = run(item)
        times.append((time.perf_counter() - t) * 1000)
        total += count(res)
    return times, total / max(1, len(items))


def time_queries(store, queries: list[SearchQuery], **kwargs) -> tuple[list[float], float]:
    """Any catalogue (SQLite or PostgreSQL); kwargs go to ``search``."""
    return time_each(queries, lambda q: search(store, q, **kwargs), lambda res: res.hit_count)


def make_queries(info: dict, n: int, seed: int = 11) -> dict[str, list[SearchQuery]]:
    rng = random.Random(seed)
    en, ko = info["en"], info["ko"]

    def mid_word() -> str:  # log-uniform over ranks 100..20000: the words people search for
        return en[int(math.exp(rng.uniform(math.log(100), math.log(20000)))) - 1]

    en_samples = [t for lang, t in info["samples"] if lang == "en"]

    rank = {w: i + 1 for i, w in enumerate(en)}

    def phrase(content: bool = True) -> str:
        """Two adjacent words of a real segment; content=True: both outside the top 50 (what scholars type),
        else at least one of them in the top 50 ("of the"-like, the slow tail)."""
        while True:
            words = rng.choice(en_samples).rstrip(".").lower().split()
            i = rng.randrange(len(words) - 1)
            common = min(rank[words[i]], rank[words[i + 1]]) <= 50
            if common != content:
                return f'"{words[i]} {words[i + 1]}"'

    def ko_syllable() -> str:
        """One syllable of a word at rank 100..20000 (what a 1-syllable query such as 핵 hits)."""
        word = ko[int(math.exp(rng.uniform(math.log(100), math.log(len(ko))))) - 1]
        return rng.choice(word)

    def ko_sub(length: int) -> str:
        """A substring of a word at rank 100..20000 (log-uniform, as for English), particle attached."""
        while True:
            word = ko[int(math.exp(rng.uniform(math.log(100), math.log(len(ko))))) - 1] + rng.choice(PARTICLES)
            if len(word) >= length:
                i = rng.randrange(len(word) - length + 1)
                return word[i:i + length]

    qs: dict[str, list[SearchQuery]] = {
        "word (rank 100-20k)": [SearchQuery(mid_word()) for _ in range(n)],
        "word, common (rank 10-100)": [SearchQuery(en[rng.randrange(9, 100)]) for _ in range(max(10, n // 5))],
        "two words AND": [SearchQuery(f"{mid_word()} {en[rng.randrange(20, 400)]}") for _ in range(n)],
        "phrase (2 words)": [SearchQuery(phrase()) for _ in range(n)],
        "phrase with a top-50 word": [SearchQuery(phrase(False)) for _ in range(max(10, n // 5))],
        "prefix*": [SearchQuery(mid_word()[:4] + "*") for _ in range(n)],
        "filtered (channel)": [SearchQuery(mid_word(), channel=f"Channel {rng.randrange(CHANNELS)}") for _ in range(n)],
        "filtered (dates+status+category)": [
            SearchQuery(mid_word(), since=f"{y}-01-01", until=f"{y + 2}-12-31", status="available", category="news", min_score=0.5)
            for y in (rng.randrange(2010, 2022) for _ in range(n))],
        "sorted by date": [SearchQuery(mid_word(), sort="date") for _ in range(n)],
        "Korean substring (3 chars)": [SearchQuery(ko_sub(3)) for _ in range(n)],
        "Korean word 핵무력 (rank 300)": [SearchQuery("핵무력") for _ in range(max(10, n // 5))],
        "Korean 2 syllables (bigram index)": [SearchQuery(ko_sub(2)) for _ in range(n)],
        "Korean 1 syllable (bigram, paged)": [SearchQuery(ko_syllable()) for _ in range(n)],
        "numerals: \"number 5\"-style phrase": [SearchQuery(f'"{mid_word()} five"') for _ in range(max(10, n // 5))],
        "malformed → phrase": [SearchQuery(f'"{mid_word()} {mid_word()}') for _ in range(max(10, n // 5))],
    }
    return qs


def make_trend_queries(info: dict, n: int, seed: int = 13) -> dict[str, list[TrendQuery]]:
    rng = random.Random(seed)
    en = info["en"]
    return {
        "trends: common word (rank 10-100)": [TrendQuery(en[rng.randrange(9, 100)], by="month") for _ in range(max(10, n // 5))],
        "trends: word (rank 100-20k), by year": [
            TrendQuery(en[int(math.exp(rng.uniform(math.log(100), math.log(20000)))) - 1], by="year") for _ in range(max(10, n // 5))],
    }


def time_trends(store: Store, queries: list[TrendQuery]) -> tuple[list[float], float]:
    return time_each(queries, lambda q: trends(store, q), lambda res: res.total_hits)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segments", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path, default=None, help="catalogue file to build (or reuse with --reuse)")
    ap.add_argument("--reuse", action="store_true", help="query an existing --db built by this script")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--semantic", action="store_true", help="also time semantic search (query encoding, exact scan, ANN index)")
    ap.add_argument("--only", nargs="*", default=None, help="only the query kinds whose name contains one of these")
    ap.add_argument("--hnsw", action="store_true", help="with --semantic: also measure faiss HNSW (slow to build)")
    args = ap.parse_args()

    tmp = None
    if args.db is None:
        tmp = Path(tempfile.mkdtemp(prefix="clipwatch-bench-"))
        args.db = tmp / "clipwatch.db"
    meta_path = args.db.with_suffix(".bench.json")
    if args.reuse:
        info = json.loads(meta_path.read_text())
    else:
        if args.db.exists():
            args.db.unlink()
        print(f"building {args.segments:,} segments in {args.db} ...", file=sys.stderr)
        info = build(args.db, args.segments)
        meta_path.write_text(json.dumps(info, ensure_ascii=False))
    sz = sizes(args.db)

    store = Store(args.db)
    store.db.execute("PRAGMA cache_size=-262144")  # 256 MiB page cache, as a long-running server would have
    queries = make_queries(info, args.queries)
    # Warm the page cache the way a running server is warm.
    time_queries(store, [q for qs in queries.values() for q in qs[:3]])
    rows = []
    for name, qs in queries.items():
        if args.only and not any(o in name for o in args.only):
            continue
        times, avg_hits = time_queries(store, qs)
        rows.append((name, len(qs), statistics.median(times), pct(times, 0.95), max(times), avg_hits))
    for name, tqs in make_trend_queries(info, args.queries).items():
        if args.only and not any(o in name for o in args.only):
            continue
        times, avg = time_trends(store, tqs)
        rows.append((name, len(tqs), statistics.median(times), pct(times, 0.95), max(times), avg))
    if args.semantic:
        rows += semantic_rows(args)
    store.close()

    mib = 1024 * 1024
    print()
    print(f"clipwatch search benchmark — {info['segments']:,} segments in {info['videos']:,} videos "
          f"(SQLite {sqlite3.sqlite_version}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end)")
    print(f"build: {info['build_s']:.1f} s ({info['segments'] / info['build_s']:,.0f} segments/s, shadow text + 4 FTS indexes via triggers)"
          f"; optimize of the indexes {info['optimize_s']:.1f} s")
    size_line = f"index size on disk: {sz['file'] / mib:,.0f} MiB total"
    if "norm_fts" in sz:
        size_line += (f" (segments {sz['segments'] / mib:,.0f} MiB, shadow text {sz['segment_norm'] / mib:,.0f} MiB,"
                      f" word FTS {sz['norm_fts'] / mib:,.0f} MiB, trigram FTS {sz['norm_trigram'] / mib:,.0f} MiB,"
                      f" Hangul bigrams {sz['hangul_bigrams'] / mib:,.0f} MiB)")
    print(size_line)
    print()
    print(f"{'query':40} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'hits/page':>9}")
    for name, n, p50, p95, mx, hits in rows:
        print(f"{name:40} {n:>4} {p50:>8.1f} {p95:>8.1f} {mx:>8.1f} {hits:>9.1f}")
    print("(hits/page: for trends rows, mentions counted per query)")
    if tmp is not None and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    elif args.keep:
        print(f"\nkept {args.db}")


def real_sentences() -> list[str]:
    """Reference texts of the real recordings under /work/media (Asterisk prompts en/fr/es, pocketsphinx cards)."""
    media = Path(os.environ.get("CLIPWATCH_MEDIA", "/work/media")) / "speech"
    out = []
    for f in sorted(media.glob("asterisk_*/core-sounds-*.txt")):
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
            if ":" in line and not line.startswith(";"):
                text = line.split(":", 1)[1].strip()
                if len(text.split()) >= 3:
                    out.append(text)
    return out


def semantic_rows(args) -> list[tuple]:
    """Query encoding with the real model; exact scan vs the ANN index over N vectors.

    Embedding 1M real segments takes hours on two cores, so the N vectors are built from real embeddings: the
    reference texts of the real recordings (Asterisk prompts in three languages) are embedded, and each synthetic
    vector is a random mix of two of them plus noise, normalised — a continuous cloud around real sentence
    embeddings rather than uniform noise (on which no ANN index has structure to use). Queries are real
    phrases, embedded as queries. recall@10 = |ANN top-10 ∩ exact top-10| / 10.
    """
    try:
        import faiss

        from pipeline.search import vectors as semantic
    except ImportError as exc:
        print(f"semantic: not available ({exc})", file=sys.stderr)
        return []
    rows = []
    try:
        enc = semantic.load_encoder()
    except Exception as exc:
        print(f"semantic: no model ({exc})", file=sys.stderr)
        return []
    texts = ["nuclear deterrent", "economic construction", "the leader visited a factory", "핵무력 강화", "missile launch"] * 4
    times = []
    for t in texts:
        t0 = time.perf_counter()
        enc.encode([t], query=True)
        times.append((time.perf_counter() - t0) * 1000)
    rows.append(("semantic: encode query", len(times), statistics.median(times), pct(times, 0.95), max(times), 0.0))
    sents = real_sentences()
    rng = np.random.default_rng(3)
    rng.shuffle(sents)
    base_txt, query_txt = sents[:-100], sents[-100:]   # queries are sentences the vectors were not built from
    print(f"semantic: embedding {len(base_txt)} + {len(query_txt)} real sentences ...", file=sys.stderr)
    base = np.concatenate([enc.encode(base_txt[i:i + 64]) for i in range(0, len(base_txt), 64)])
    queries = enc.encode(query_txt, query=True)
    dim, n = enc.dim, args.segments
    mat = np.empty((n, dim), dtype=np.float32)
    for i in range(0, n, 100_000):
        m = min(100_000, n - i)
        a, b = rng.integers(0, len(base), m), rng.integers(0, len(base), m)
        w = rng.uniform(0.3, 1.0, (m, 1)).astype(np.float32)
        blk = w * base[a] + (1 - w) * base[b] + 0.03 * rng.standard_normal((m, dim)).astype(np.float32)
        blk /= np.linalg.norm(blk, axis=1, keepdims=True)
        mat[i:i + m] = blk
    ids = np.arange(n, dtype=np.int64)
    exact = []
    times = []
    for qv in queries:
        t0 = time.perf_counter()
        r, _ = semantic.top_k(mat, qv, 10)
        times.append((time.perf_counter() - t0) * 1000)
        exact.append(set(int(x) for x in r))
    rows.append((f"semantic: exact scan {n:,}x{dim}", len(times), statistics.median(times), pct(times, 0.95), max(times), 10.0))

    def measure(name: str, ann, build_s: float) -> None:
        times, rec = [], []
        for qv, ex in zip(queries, exact):
            t0 = time.perf_counter()
            got, _ = semantic.ann_search(ann, qv, 10)
            times.append((time.perf_counter() - t0) * 1000)
            rec.append(len(ex & set(int(x) for x in got)) / 10)
        rows.append((f"{name} (build {build_s:.0f} s)", len(times), statistics.median(times), pct(times, 0.95), max(times), 10.0))
        rows.append((f"  recall@10 vs exact: {statistics.mean(rec):.3f}", 0, 0.0, 0.0, 0.0, 0.0))

    faiss.omp_set_num_threads(min(4, os.cpu_count() or 1))
    t0 = time.perf_counter()
    ivf = semantic.build_ann(mat, ids)
    build_s = time.perf_counter() - t0
    faiss.omp_set_num_threads(1)  # queries: one thread, as a server answering many at once would run them
    for nprobe in sorted({16, 96, semantic.nprobe_for(ivf.nlist)}):
        ivf.nprobe = nprobe
        measure(f"semantic: faiss IVF{ivf.nlist} nprobe={nprobe}", ivf, build_s)
    ivf.nprobe = semantic.nprobe_for(ivf.nlist)
    t0 = time.perf_counter()
    extra = mat[: n // 100] * 0.999
    ivf.add_with_ids(extra, np.arange(n, n + len(extra), dtype=np.int64))
    rows.append((f"semantic: IVF incremental add of {len(extra):,} (ms total)", 1, (time.perf_counter() - t0) * 1000, 0, 0, 0))
    if args.hnsw:
        faiss.omp_set_num_threads(min(4, os.cpu_count() or 1))
        t0 = time.perf_counter()
        inner = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = 64
        hnsw = faiss.IndexIDMap2(inner)
        hnsw.add_with_ids(mat, ids)
        build_s = time.perf_counter() - t0
        faiss.omp_set_num_threads(1)
        for ef in (32, 64, 128):
            inner.hnsw.efSearch = ef
            measure(f"semantic: faiss HNSW32 efSearch={ef}", hnsw, build_s)
    return rows


if __name__ == "__main__":
    main()
