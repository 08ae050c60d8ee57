"""``SearchIndex`` over a dialect's search SQL: the object a catalogue hands out as ``catalogue.search_index``.

Each database keeps its search SQL in one module of functions over its connection, with the same names, arguments
and rows (``pipeline.storage.sqlite.search``: FTS5; ``pipeline.storage.postgres.search``: tsvector, Hangul bigrams,
pg_trgm). This binds one of them to a connection, so ``pipeline.search`` calls methods and never sees either.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Iterable

from pipeline.storage.base import Row

# The indexes a query plan names (``pipeline.search.query``): words of trusted lines, words of lines flagged as
# possible hallucinations, substrings (Korean/CJK), Hangul bigrams (1–2 syllable queries). SQLite has one FTS5
# table each; PostgreSQL reads each name as a condition on its segments' search columns.
WORD, DOUBT, TRIGRAM, BIGRAM = "norm_fts", "norm_doubt_fts", "norm_trigram", "hangul_bigrams"
TABLES = (WORD, DOUBT, TRIGRAM, BIGRAM)


@dataclass
class Filters:
    channel: str | None = None
    category: str | None = None
    min_score: float | None = None
    language: str | None = None
    since: str | None = None      # YYYYMMDD
    until: str | None = None      # YYYYMMDD
    status: str | None = None
    source: str = "all"           # all | speech | screen | comments
    # recorded streams (issue 25): their segments' air time against these bounds, not an upload date
    since_air: str | None = None  # ISO 8601 UTC (ms, Z): aired at or after
    until_air: str | None = None  # aired before

    def sql(self, ph: str = "?", ci_eq: Callable[[str], str] | None = None) -> tuple[list[str], list[Any]]:
        """Conditions on videos v (and transcripts t), with ``ph`` as the parameter placeholder and ``ci_eq(column)``
        a case-insensitive comparison with one parameter (SQLite's COLLATE NOCASE by default; PostgreSQL passes its
        own dialect and shares these conditions)."""
        ci = ci_eq or (lambda col: f"{col} = {ph} COLLATE NOCASE")
        conds: list[str] = []
        args: list[Any] = []
        if self.channel:
            conds.append(f"({ci('v.channel')} OR v.channel_id = {ph} OR {ci('v.uploader')})")
            args += [self.channel] * 3
        if self.language:
            conds.append(f"({ci('v.language')} OR (v.language IS NULL AND {ci('t.language')}))")
            args += [self.language, self.language]
        # a recorded segment is in when its air time overlaps the bounds; any other video by its upload date
        recorded = "v.id IN (SELECT ss.video_id FROM stream_segments ss WHERE {})"
        unrecorded = "v.id NOT IN (SELECT ss.video_id FROM stream_segments ss)"
        if self.since:
            conds.append(f"({recorded.format(f'ss.air_end > {ph}')} OR ({unrecorded} AND "
                         f"replace(v.upload_date, '-', '') >= {ph}))")
            args += [self.since_air or f"{self.since[:4]}-{self.since[4:6]}-{self.since[6:]}T00:00:00.000Z", self.since]
        if self.until:
            conds.append(f"({recorded.format(f'ss.air_start < {ph}')} OR ({unrecorded} AND "
                         f"replace(v.upload_date, '-', '') <= {ph}))")
            args += [self.until_air or f"{self.until[:4]}-{self.until[4:6]}-{self.until[6:]}T23:59:59.999Z", self.until]
        if self.status:
            conds.append(f"v.status = {ph}")
            args.append(self.status)
        if self.source == "speech":
            conds.append("t.kind IN ('original', 'translation')")
        elif self.source == "screen":
            conds.append("t.kind = 'screen'")
        elif self.source == "comments":  # the platform's comments (issue 23)
            conds.append("t.kind = 'comments'")
        if self.category:
            score_cond = f"tg.score >= {ph}" if self.min_score is not None else "tg.decision = 1"
            conds.append(
                f"EXISTS (SELECT 1 FROM tags tg WHERE tg.video_id = v.id AND {ci('tg.category')} AND "
                f"{score_cond} AND (tg.origin = 'human' OR NOT EXISTS (SELECT 1 FROM tags h WHERE h.video_id = tg.video_id "
                "AND h.category = tg.category AND h.origin = 'human')))"
            )
            args.append(self.category)
            if self.min_score is not None:
                args.append(self.min_score)
        return conds, args

    @property
    def any(self) -> bool:
        return bool(self.sql()[0])


class SQLSearchIndex:
    """The ``pipeline.storage.base.SearchIndex`` contract over one dialect's search module and connection."""

    def __init__(self, sql: ModuleType, db: Any):
        """Arguments:
            sql: the dialect's search module.
            db: its connection (sqlite3 or psycopg).
        """
        self._sql = sql
        self._db = db
        self.query_syntax_errors: tuple[type[Exception], ...] = sql.QUERY_SYNTAX_ERRORS

    def match_of(self, plan: Any) -> Any:
        return self._sql.match_of(plan)

    def match_ids(self, table: str, match: Any, filters: Any, sort: str, offset: int, n: int, ranked: bool = True,
                  newest_first: bool = False) -> list[tuple[int, float | None]]:
        return list(self._sql.match_ids(self._db, table, match, filters, sort, offset, n, ranked=ranked,
                                        newest_first=newest_first))

    def count_matches(self, table: str, match: Any, filters: Any) -> int:
        return int(self._sql.count_matches(self._db, table, match, filters))

    def term_docs(self, term: str) -> int:
        return int(self._sql.term_docs(self._db, term))

    def filter_ids(self, filters: Any, ids: list[int]) -> set[int]:
        return set(self._sql.filter_ids(self._db, filters, ids))

    def segment_rows(self, ids: list[int]) -> dict[int, Row]:
        return dict(self._sql.segment_rows(self._db, ids))

    def video_rows(self, video_ids: list[str]) -> dict[str, Row]:
        return dict(self._sql.video_rows(self._db, video_ids))

    def media_rows(self, sha256s: list[str | None]) -> dict[str, Row]:
        return dict(self._sql.media_rows(self._db, sha256s))

    def tag_rows(self, video_ids: list[str]) -> dict[str, list[Row]]:
        return dict(self._sql.tag_rows(self._db, video_ids))

    def paired_lines(self, wanted: list[tuple[Any, str, str, float, float]]) -> dict[Any, str | None]:
        return dict(self._sql.paired_lines(self._db, wanted))

    def nearest_keyframes(self, wanted: list[tuple[Any, str, float]]) -> dict[Any, Any]:
        return dict(self._sql.nearest_keyframes(self._db, wanted))

    def segment_texts(self, ids: list[int]) -> dict[int, str]:
        return dict(self._sql.segment_texts(self._db, ids))

    def segment_ids(self) -> list[int]:
        return list(self._sql.segment_ids(self._db))

    def mention_counts(self, tables: Iterable[tuple[str, Any]], by: str, filters: Any) -> list[dict[str, Any]]:
        return list(self._sql.mention_counts(self._db, tables, by, filters))

    def channels(self) -> list[Row]:
        return list(self._sql.channels(self._db))

    def removed_videos(self, limit: int = 500) -> list[Row]:
        return list(self._sql.removed_videos(self._db, limit))

    def recent_videos(self, limit: int = 100) -> list[Row]:
        return list(self._sql.recent_videos(self._db, limit))


# -- SQL both dialects run as it is (placeholders filled in by each) ------------------------------------------------

def order_by(sort: str, ranked: bool) -> str:
    """The ORDER BY of a page of hits (``s`` segments joined with ``v`` videos): both dialects run it as it is."""
    if sort == "date":
        return "COALESCE(replace(v.upload_date, '-', ''), '') DESC, s.video_id, s.start, s.id"
    if sort == "date_asc":
        return "COALESCE(replace(v.upload_date, '-', ''), '99999999') ASC, s.video_id, s.start, s.id"
    return "score, s.id" if ranked else "s.id"


TAG_ROWS_SQL = ("SELECT * FROM tags t WHERE video_id {in_ids} AND (origin = 'human' OR "
                "NOT EXISTS (SELECT 1 FROM tags h WHERE h.video_id = t.video_id AND h.category = t.category AND "
                "h.origin = 'human')) ORDER BY video_id, score DESC, category")

REMOVED_VIDEOS_SQL = """SELECT v.id, v.title, v.channel, v.webpage_url, v.upload_date, v.status, v.status_kind, v.status_reason,
                  v.status_changed_at, v.last_checked_at, v.media_sha256, m.path AS media_path,
                  (SELECT max(e.at) FROM events e WHERE e.video_id = v.id AND e.kind IN ('fetched', 'verified', 'reappeared'))
                      AS last_seen
           FROM videos v LEFT JOIN media_files m ON m.sha256 = v.media_sha256
           WHERE v.status != 'available'
           ORDER BY COALESCE(v.status_changed_at, v.last_checked_at, '') DESC, v.id LIMIT {ph}"""

RECENT_VIDEOS_SQL = """SELECT v.id, v.title, v.channel, v.upload_date, v.duration, v.status, v.language,
                  COALESCE(m.fetched_at, v.archived_at) AS archived_at
           FROM videos v LEFT JOIN media_files m ON m.sha256 = v.media_sha256
           ORDER BY COALESCE(m.fetched_at, v.archived_at) DESC, v.id LIMIT {ph}"""
