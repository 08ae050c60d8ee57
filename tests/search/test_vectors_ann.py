"""The semantic search's ANN index (faiss): exact when small, IVF when large, incremental add/remove."""

from __future__ import annotations

import numpy as np
import pytest

faiss = pytest.importorskip("faiss")

from pipeline.search import vectors  # noqa: E402


def clustered(n: int, dim: int = 32, centres: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + 0.3 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_ids(mat: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> set[int]:
    rows, _ = vectors.top_k(mat, q, k)
    return {int(ids[r]) for r in rows}


def test_small_index_is_exact():
    mat = clustered(500)
    ids = np.arange(1000, 1500, dtype=np.int64)
    ann = vectors.build_ann(mat, ids)
    assert vectors._ann_kind(ann) == "flat"
    for q in mat[:5]:
        got, _ = vectors.ann_search(ann, q, 10)
        assert set(got.tolist()) == exact_ids(mat, ids, q, 10)


def test_ivf_recall_and_incremental_updates(monkeypatch):
    monkeypatch.setattr(vectors, "IVF_MIN", 2000)
    mat = clustered(6000)
    ids = np.arange(6000, dtype=np.int64) * 3  # segment ids need not be row numbers
    ann = vectors.build_ann(mat, ids)
    assert vectors._ann_kind(ann).startswith("ivf")
    queries = clustered(40, seed=9)
    recall = np.mean([len(set(vectors.ann_search(ann, q, 10)[0].tolist()) & exact_ids(mat, ids, q, 10)) / 10 for q in queries])
    assert recall >= 0.95
    # remove some rows, add new ones: no rebuild, and the index answers with the new ids only
    removed = ids[:100]
    new = clustered(50, seed=5)
    new_ids = np.arange(100_000, 100_050, dtype=np.int64)
    keep = np.ones(len(ids), bool)
    keep[:100] = False
    all_mat, all_ids = np.concatenate([mat[keep], new]), np.concatenate([ids[keep], new_ids])
    ann2 = vectors.update_ann(ann, all_mat, all_ids, removed, new_ids, new)
    assert ann2 is ann and ann2.ntotal == len(all_ids)
    got, _ = vectors.ann_search(ann2, new[0], 5)
    assert int(got[0]) == 100_000
    got, _ = vectors.ann_search(ann2, mat[0], 50)
    assert not set(got.tolist()) & set(removed.tolist())


def test_switches_from_exact_to_ivf_when_it_grows(monkeypatch):
    monkeypatch.setattr(vectors, "IVF_MIN", 2000)
    mat = clustered(1000)
    ann = vectors.build_ann(mat, np.arange(1000))
    assert vectors._ann_kind(ann) == "flat"
    more = clustered(2000, seed=3)
    all_mat = np.concatenate([mat, more])
    ann2 = vectors.update_ann(ann, all_mat, np.arange(3000), np.zeros(0, np.int64), np.arange(1000, 3000), more)
    assert vectors._ann_kind(ann2).startswith("ivf") and ann2.ntotal == 3000
