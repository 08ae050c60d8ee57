"""Search narrowed to a voice: the hits spoken by voices close to ``VIDEO:S1`` or a voice's given name (issue 24).

The voices themselves (centroids, names, the voice index) are the speakers room's; this module only joins them to
search results, so that search sits above speakers and never the other way round.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pipeline.search.facade import search
from pipeline.speakers.voices import MATCH_MIN, close_voices


def filter_results(store: Any, results: Any, spec: str, min_similarity: float = MATCH_MIN) -> Any:
    """Keep the hits spoken by voices close to ``spec``; drops empty video groups and says so in the notice."""
    keep = close_voices(store, spec, min_similarity)
    for g in results.videos:
        g.hits = [h for h in g.hits if (g.video_id, getattr(h, "speaker", None)) in keep]
    results.videos = [g for g in results.videos if g.hits]
    results.hit_count = sum(len(g.hits) for g in results.videos)
    note = f"only lines spoken by voices like {spec} ({len(keep)} voice{'s' if len(keep) != 1 else ''})"
    results.notice = "; ".join(x for x in (results.notice, note) if x)
    return results


def voice_search(store: Any, q: Any, spec: str, archive_dir: Any = None, min_similarity: float = MATCH_MIN) -> Any:
    """A search whose hits are narrowed to lines spoken by voices close to ``spec`` (``VIDEO:S1`` or a name).

    Arguments:
        store: an open catalogue.
        q: the SearchQuery; its ``limit`` is the most hits returned.
        spec: the voice.
        archive_dir: as for ``pipeline.search.facade.search``.
        min_similarity: the least centroid similarity of a voice counted as the same voice.

    Returns:
        SearchResults with only those hits (one page: the hits are filtered from the first ten pages of the
        unfiltered search, so no ``next_cursor``).
    """
    close_voices(store, spec, min_similarity)  # an unknown voice or name is an error before any search
    wide = replace(q, limit=min(1000, max(q.limit, 1) * 10), cursor=None)
    results = filter_results(store, search(store, wide, archive_dir=archive_dir), spec, min_similarity)
    kept = 0
    for g in results.videos:
        g.hits = g.hits[: max(0, q.limit - kept)]
        kept += len(g.hits)
    results.videos = [g for g in results.videos if g.hits]
    results.hit_count, results.next_cursor, results.query = kept, None, q
    return results
