"""The one entry to searching the archive: ``search(store, SearchQuery) -> SearchResults``, whatever the mode.

Word, substring and auto queries run the full-text indexes (``fulltext``); semantic and hybrid queries run the
embeddings (``vectors``), alone or fused with the word ranking (``hybrid``). Every mode returns the same hits,
built by ``fulltext.build_hits``. Callers (CLI, web, exports, bags) import from here, so no search module needs to
know which of the others runs a query.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Sequence

from pipeline.search import hybrid
from pipeline.search.airtime import annotate_air_times
from pipeline.search.fulltext import (  # noqa: F401  (re-exported: what a caller of the search names)
    Hit,
    SearchResults,
    VideoGroup,
    build_hits,
    deep_link,
    default_archive_dir,
    word_ranked,
)
from pipeline.search.query import (  # noqa: F401  (re-exported: the public names of the search)
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MODES,
    SORTS,
    SOURCES,
    STATUSES,
    SearchQuery,
    decode_cursor,
    encode_cursor,
    validate,
)
from pipeline.speakers.voices import annotate_hits
from pipeline.storage.base import Catalogue


def search(store: Catalogue, query: SearchQuery, *, archive_dir: Path | None = None) -> SearchResults:
    """Run a search. Raises QueryError only for bad parameters, never for the query text.

    Arguments:
        store: the catalogue (SQLite or PostgreSQL).
        query: the query, its mode (auto, word, substring, semantic, hybrid), filters, sort and page.
        archive_dir: the archive root for keyframe paths; beside the catalogue when None.

    Returns:
        One page of hits grouped by video, with the mode that ran, a notice for the user and the next page's cursor.
    """
    t0 = time.perf_counter()
    q = validate(query)
    archive_dir = Path(archive_dir) if archive_dir is not None else default_archive_dir(store)
    fp = q.fingerprint()
    offset = decode_cursor(q.cursor, fp) if q.cursor else 0

    if not re.search(r"\w", q.text):
        # Only punctuation and operators: nothing any index can match.
        return SearchResults(query=q, mode="word", fts_query=None, videos=[], hit_count=0, next_cursor=None,
                             notice="the query has no searchable words (only punctuation or operators)",
                             elapsed_ms=(time.perf_counter() - t0) * 1000)
    ranked: Sequence[tuple[int, float | None]]  # (segment id, score); word search may have no score
    if q.mode in ("semantic", "hybrid"):
        ranked, p, notice, eff_mode = hybrid.search_ranked(store, q, offset, q.limit + 1)
    else:
        ranked, p, notice, eff_mode = word_ranked(store, q, offset, q.limit + 1)
    more = len(ranked) > q.limit
    ranked = ranked[: q.limit]
    groups = build_hits(store, p, ranked, archive_dir)
    annotate_hits(store, groups)  # who speaks each hit (issue 24)
    annotate_air_times(store, groups)  # when it aired, for recorded streams (issue 25)
    return SearchResults(
        query=q, mode=eff_mode, fts_query=p.match if p else None, notice=notice, videos=groups,
        hit_count=sum(len(g.hits) for g in groups),
        next_cursor=encode_cursor(offset + q.limit, fp) if more else None,
        elapsed_ms=(time.perf_counter() - t0) * 1000,
    )
