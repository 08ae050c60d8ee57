"""Voices across the archive: every stored voice in a nearest-neighbour index (FAISS, inner product).

The index is built from the catalogue's ``voices`` rows of one encoder and cached under ``<data>/vectors/``
(``voices-<encoder>.faiss`` + ``.keys.npy``), rebuilt when the voices table changes (its row count and latest
write). Below ``IVF_MIN`` voices an exact flat index answers; above it, an inverted-file index with a tenth of its lists
probed (bench/speakers.py --ann: query time and recall against the exact scan at 100,000 voices). A query runs on
one thread: on a busy 2-core machine FAISS's default threads made a flat scan of 100,000 voices 4x slower.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Settings
from pipeline.storage.files import atomic_write, atomic_write_bytes

log = logging.getLogger(__name__)

IVF_MIN = 50_000  # exact below: 1-thread flat scans of 50k voices take ~25 ms; IVF at 100k: p95 8 ms
NPROBE_SHARE = 0.10


@dataclass
class VoiceIndex:
    keys: list[tuple[str, str, float]]  # (video_id, speaker, seconds) per row
    ann: Any  # a faiss index over the L2-normalised embeddings
    encoder: str

    def __len__(self) -> int:
        return len(self.keys)

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, str, float, float]]]:
        """The ``k`` voices closest to each query, best first.

        Arguments:
            queries: (n, dim) L2-normalised embeddings (one row is accepted as a 1-D array).
            k: how many neighbours per query.

        Returns:
            Per query, a list of (video_id, speaker, seconds, similarity) with similarity clipped to 0..1.
        """
        q = np.atleast_2d(np.asarray(queries, np.float32))
        if not self.keys or not len(q):
            return [[] for _ in range(len(q))]
        import faiss  # a native library (OpenMP threads): loaded only when voices are searched

        saved = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            sims, idx = self.ann.search(np.ascontiguousarray(q), min(k, len(self.keys)))
        finally:
            faiss.omp_set_num_threads(saved)
        out = []
        for srow, irow in zip(sims, idx):
            out.append([(*self.keys[i], float(min(1.0, max(0.0, s)))) for s, i in zip(srow, irow) if i >= 0])
        return out


def build(matrix: np.ndarray, nlist: int | None = None) -> Any:
    """A FAISS inner-product index over ``matrix`` (flat below IVF_MIN rows, IVF above)."""
    import faiss  # a native library (OpenMP threads): loaded only when voices are searched

    matrix = np.ascontiguousarray(matrix, np.float32)
    dim = matrix.shape[1] if matrix.ndim == 2 and matrix.shape[1] else 256
    ann: faiss.Index
    if len(matrix) < IVF_MIN and nlist is None:
        ann = faiss.IndexFlatIP(dim)
    else:
        nlist = nlist or int(2 * np.sqrt(len(matrix)))
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(1)
        train = matrix[rng.choice(len(matrix), min(len(matrix), 40 * nlist), replace=False)]
        ivf.train(train)
        ivf.nprobe = max(8, int(np.ceil(NPROBE_SHARE * nlist)))
        ann = ivf
    if len(matrix):
        ann.add(matrix)
    return ann


def _cache_paths(store: Any, encoder: str) -> tuple[Path, Path]:
    data_dir = getattr(store, "data_dir", None)
    if data_dir is None:  # a PostgreSQL catalogue: the data folder of this process's settings, as the semantic index
        data_dir = Settings().data_dir
    folder = Path(data_dir) / "vectors"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in encoder)
    return folder / f"voices-{safe}.faiss", folder / f"voices-{safe}.keys.npy"


def open_index(store: Any, encoder: str) -> VoiceIndex:
    """The index of every voice stored with ``encoder``: from the cache when the voices are unchanged, else rebuilt.

    Arguments:
        store: an open catalogue.
        encoder: the encoder version whose voices are indexed (voices of other encoders do not compare).

    Returns:
        A VoiceIndex (empty when the archive has no voices).
    """
    import faiss  # a native library (OpenMP threads): loaded only when voices are searched

    _, fingerprint = store.voice_count()
    ann_path, keys_path = _cache_paths(store, encoder)
    if ann_path.is_file() and keys_path.is_file():
        try:
            saved = np.load(keys_path, allow_pickle=False)
            if str(saved[0][0]) == fingerprint:
                keys = [(str(v), str(s), float(sec)) for v, s, sec in saved[1:]]
                ann = faiss.read_index(str(ann_path))
                if ann.ntotal == len(keys):  # the two files are written one after the other: both must agree
                    return VoiceIndex(keys, ann, encoder)
        except (OSError, ValueError, IndexError, RuntimeError):
            log.info("voice index cache at %s unreadable: rebuilt", ann_path)
    rows = list(store.all_voices(encoder))
    keys = [(v, s, sec) for v, s, sec, _ in rows]
    matrix = np.stack([e for *_, e in rows]) if rows else np.zeros((0, 256), np.float32)
    ann = build(matrix)
    try:  # a read-only archive still answers, from memory
        table = np.array([(fingerprint, "", "")] + [(v, s, repr(sec)) for v, s, sec in keys], dtype=str)
        atomic_write_bytes(ann_path, faiss.serialize_index(ann).tobytes())
        atomic_write(keys_path, lambda f: np.save(f, table, allow_pickle=False))
    except OSError as exc:
        log.info("voice index not cached (%s)", exc)
    return VoiceIndex(keys, ann, encoder)
