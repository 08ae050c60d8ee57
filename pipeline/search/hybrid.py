"""Semantic and hybrid ranking: meaning-based hits, and word + semantic lists fused by reciprocal rank.

Kept apart from ``fulltext`` (word search) and ``vectors`` (embeddings, ANN index) so that neither imports the
other: this module uses both.
"""

from __future__ import annotations

from typing import Any

from pipeline.search import vectors
from pipeline.search.fulltext import ranked_ids
from pipeline.search.query import Plan, SearchQuery, plan
from pipeline.storage.base import Catalogue

RRF_K = 60
HYBRID_DEPTH = 200      # candidates taken from each list before fusion


def rrf(*lists: list[tuple[int, Any]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score(d) = Σ 1 / (k + rank of d in each list), rank from 1."""
    fused: dict[int, float] = {}
    for lst in lists:
        for rank, (sid, _) in enumerate(lst, 1):
            fused[sid] = fused.get(sid, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def search_ranked(store: Catalogue, q: SearchQuery, offset: int, n: int) -> tuple[list[tuple[int, float]], Plan, str | None, str]:
    """(ranked [(segment id, score)], the word plan (for highlighting the query's words), notice, effective mode)."""
    notice = None
    if q.sort != "relevance":
        notice = f"{q.mode} results are ordered by similarity; sort={q.sort} applies to word search only"
    word_plan = plan(q.text, "auto")
    if q.mode == "semantic":
        ranked = vectors.semantic_ranked(store, q, offset + n)
        return ranked[offset:offset + n], word_plan, notice, "semantic"
    depth = max(HYBRID_DEPTH, offset + n)
    word, word_plan, word_notice = ranked_ids(store, word_plan, q, 0, depth)
    sem = vectors.semantic_ranked(store, q, depth)
    fused = rrf(word, sem)
    notice = "; ".join(x for x in (word_notice, notice) if x) or None
    return [(sid, round(s, 6)) for sid, s in fused[offset:offset + n]], word_plan, notice, "hybrid"
