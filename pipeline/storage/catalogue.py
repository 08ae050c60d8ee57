"""The catalogue's portable SQL, written once for SQLite and PostgreSQL: ``SQLCatalogue``.

Everything both databases run alike lives here: the queries over videos, media, sources and their monitoring state,
the hash chain of events, derivatives, tags, stage runs; copies and the channel network (``copy_tables``) and who
speaks (``speaker_tables``) are parts of their own, over the same base (``sql.SQLBase``). A dialect class
(``pipeline.storage.sqlite.catalogue.Store``, ``pipeline.storage.postgres.catalogue.PostgresCatalogue``) gives the
rest: how to connect, its parameter placeholder (``P``), how to run a statement and get a new row's id, transactions
and locking, the event log's protection, the full-text index (``search_index``), and the writes whose SQL differs
(transcripts with their search columns, a video's upsert under concurrent writers).

The SQL below is portable: upserts are ``INSERT … ON CONFLICT (key) DO UPDATE``, ``"offset"`` and ``"end"`` are
quoted, no ``IS DISTINCT FROM`` (SQLite has it only since 3.39), and placeholders are the dialect's ``P``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import Any, Iterable

from pipeline.domain import MediaRecord, VideoRecord, to_signed64, utcnow
from pipeline.errors import NotFoundError
from pipeline.storage import chain
from pipeline.storage.base import Row
from pipeline.storage.copy_tables import CopyTables
from pipeline.storage.programme_tables import ProgrammeTables
from pipeline.storage.speaker_tables import SpeakerTables
from pipeline.storage.stream_tables import StreamTables
from pipeline.text import normalize

# What the search indexes hold (normalize.VERSION) and how: a change rebuilds them when a catalogue is opened.
SEARCH_INDEX_VERSION = f"{normalize.VERSION}.1"

# The columns of a segment as every reader sees them (PostgreSQL's segments table also holds its search columns).
SEGMENT_COLUMNS = ("s.id, s.transcript_id, s.video_id, s.idx, s.start, s.\"end\", s.text, s.avg_logprob, "
                   "s.no_speech_prob, s.compression_ratio, s.flags")

# Every table of the catalogue's meaning, the same on both databases (what ``row_counts`` may count).
TABLES = ("sources", "videos", "media_files", "media_fetches", "events", "metadata_versions", "keyframes",
          "transcripts", "segments", "segment_words", "tags", "stage_runs", "source_checks", "manifests",
          "audio_profiles", "audio_fingerprints", "copy_links", "speaker_turns", "voices", "voice_names",
          "stream_segments", "programmes", "idents")


class SQLCatalogue(ProgrammeTables, StreamTables, SpeakerTables, CopyTables):
    """The catalogue contract (``pipeline.storage.base.Catalogue``) over a SQL database; subclasses are dialects.

    Use as a context manager or call ``close()``.
    """

    # -- sources ---------------------------------------------------------------------------------------------------
    def upsert_source(self, url: str, kind: str = "unknown", title: str | None = None, watched: bool | None = None) -> int:
        """Add a source (or refresh its kind, title, watched flag).

        Arguments:
            url: what was archived from (a channel, playlist, feed, page or local path).
            kind: ``channel``, ``playlist`` … (``unknown`` never overwrites a known kind).
            title: its title, when known.
            watched: whether the monitor re-lists it (None: leave as it is).

        Returns:
            The source's id.
        """
        p = self.P
        with self.transaction():
            row = self._one(f"SELECT id FROM sources WHERE url = {p}{self.FOR_UPDATE}", (url,))
            if row is None:
                # another machine may add it first: then its row is the one (ON CONFLICT), this call returns its id
                return self._insert_id(
                    f"INSERT INTO sources(url, kind, title, watched, added_at) VALUES ({self._marks(5)})"
                    " ON CONFLICT (url) DO UPDATE SET url = excluded.url",
                    (url, kind, title, int(bool(watched)), utcnow()))
            sets = [f"kind = CASE WHEN {p} != 'unknown' THEN {p} ELSE kind END", f"title = COALESCE({p}, title)"]
            args: list[Any] = [kind, kind, title]
            if watched is not None:
                sets.append(f"watched = {p}")
                args.append(int(watched))
            self._execute(f"UPDATE sources SET {', '.join(sets)} WHERE id = {p}", (*args, row["id"]))
            return int(row["id"])

    def source(self, source_id: int) -> Row | None:
        return self._one(f"SELECT * FROM sources WHERE id = {self.P}", (source_id,))

    def watched_source_rows(self) -> list[Row]:
        return self._all("SELECT * FROM sources WHERE watched = 1 ORDER BY id")

    def watched_sources_with_state(self) -> list[Row]:
        return self._all(
            """SELECT s.*, c.status AS status, c.status_kind, c.status_reason, c.failed_checks,
                      (SELECT COUNT(*) FROM videos v WHERE v.source_id = s.id) AS videos
               FROM sources s LEFT JOIN source_checks c ON c.source_id = s.id WHERE s.watched = 1 ORDER BY s.id""")

    def source_check(self, source_id: int) -> Row | None:
        return self._one(f"SELECT * FROM source_checks WHERE source_id = {self.P}", (source_id,))

    def set_source_list_error(self, source_id: int, error: str) -> None:
        with self.transaction():
            self._execute(f"UPDATE sources SET last_list_error = {self.P} WHERE id = {self.P}", (error, source_id))

    def source_listed(self, source_id: int, at: str, title: str | None) -> None:
        """A watched source listed fine: clear its failures (and a removal)."""
        p = self.P
        with self.transaction():
            self._execute(f"UPDATE sources SET last_listed_at = {p}, last_list_error = NULL, title = COALESCE({p}, title)"
                          f" WHERE id = {p}", (at, title, source_id))
            self._execute(
                "INSERT INTO source_checks(source_id, status, failed_checks, last_checked_at, status_changed_at)"
                f" VALUES ({p}, 'available', 0, {p}, {p})"
                " ON CONFLICT(source_id) DO UPDATE SET failed_checks = 0, first_failed_at = NULL, last_checked_at = excluded.last_checked_at,"
                " status_changed_at = CASE WHEN source_checks.status = 'removed' THEN excluded.status_changed_at"
                " ELSE source_checks.status_changed_at END,"
                " status = 'available', status_kind = NULL, status_reason = NULL",
                (source_id, at, at))

    def source_checked(self, source_id: int, at: str) -> None:
        with self.transaction():
            self._execute(f"UPDATE source_checks SET last_checked_at = {self.P} WHERE source_id = {self.P}", (at, source_id))

    def source_failed(self, source_id: int, failed: int, first_failed_at: str, at: str,
                      removed: tuple[str, str] | None = None) -> None:
        """Count a failed listing; ``removed=(kind, reason)`` records the source as removed."""
        p = self.P
        with self.transaction():
            self._execute(
                "INSERT INTO source_checks(source_id, status, failed_checks, first_failed_at, last_checked_at)"
                f" VALUES ({p}, 'available', {p}, {p}, {p})"
                " ON CONFLICT(source_id) DO UPDATE SET failed_checks = excluded.failed_checks, first_failed_at = excluded.first_failed_at,"
                " last_checked_at = excluded.last_checked_at",
                (source_id, failed, first_failed_at, at))
            if removed:
                self._execute(f"UPDATE source_checks SET status = 'removed', status_kind = {p}, status_reason = {p},"
                              f" status_changed_at = {p} WHERE source_id = {p}", (removed[0], removed[1], at, source_id))

    # -- videos ----------------------------------------------------------------------------------------------------
    def get_video(self, video_id: str) -> Row:
        """The video with this id, or with this unambiguous id prefix (as git takes commits).

        Raises:
            NotFoundError: no such video (the message says how to list the ids).
        """
        row = self.find_video(video_id)
        if row is None:
            rows = self._all(f"SELECT * FROM videos WHERE id LIKE {self.P} ESCAPE '\\' LIMIT 2", (_like_prefix(video_id),))
            if len(rows) == 1:
                return rows[0]
            raise NotFoundError(f"no archived video with id {video_id!r}; `clipwatch list` shows the ids")
        return row

    def find_video(self, video_id: str) -> Row | None:
        return self._one(f"SELECT * FROM videos WHERE id = {self.P}", (video_id,))

    def video_by_sha256(self, sha256: str) -> Row | None:
        """The first video that fetched this file (``videos_holding`` gives them all)."""
        return self._one("SELECT v.* FROM videos v JOIN media_fetches l ON l.video_id = v.id"
                         f" WHERE l.sha256 = {self.P} ORDER BY l.id LIMIT 1", (sha256,))

    def videos_holding(self, sha256: str) -> list[str]:
        """Every video whose original is this file (the same bytes published on several pages)."""
        return [r[0] for r in self._all(
            f"SELECT DISTINCT video_id FROM media_fetches WHERE sha256 = {self.P} ORDER BY video_id", (sha256,))]

    def set_video_fields(self, video_id: str, **fields: Any) -> None:
        """Set columns of a video (status, failed_checks …) by name."""
        if not fields:
            return
        for k in fields:
            if not re.fullmatch(r"[a-z_]+", k):  # column names go into the SQL text
                raise ValueError(f"bad column name {k!r}")
        with self.transaction():
            self._execute(f"UPDATE videos SET {', '.join(f'{k} = {self.P}' for k in fields)} WHERE id = {self.P}",
                          (*fields.values(), video_id))

    def add_metadata_version(self, video_id: str, title: str | None, description: str | None, platform_tags: list[str],
                             info_json_path: str | None, seen_at: str | None = None) -> None:
        """Add a metadata version — unless it says exactly what the latest one says (a version is a change)."""
        with self.transaction():
            last = self._one(f"SELECT title, description, platform_tags FROM metadata_versions WHERE video_id = {self.P}"
                             " ORDER BY id DESC LIMIT 1", (video_id,))
            if last is not None and (last["title"], last["description"], last["platform_tags"]) == (
                    title, description, json.dumps(platform_tags, ensure_ascii=False)):
                return
            self._execute(
                "INSERT INTO metadata_versions(video_id, seen_at, title, description, platform_tags, info_json_path)"
                f" VALUES ({self._marks(6)})",
                (video_id, seen_at or utcnow(), title, description, json.dumps(platform_tags, ensure_ascii=False), info_json_path))

    def metadata_versions(self, video_id: str) -> list[Row]:
        return self._all(f"SELECT * FROM metadata_versions WHERE video_id = {self.P} ORDER BY id", (video_id,))

    def list_videos(self, limit: int = 1000) -> list[Row]:
        return self._all("SELECT * FROM videos ORDER BY COALESCE(upload_date, '') DESC, archived_at DESC"
                         f" LIMIT {self.P}", (limit,))

    def all_videos(self) -> list[Row]:
        return self._all("SELECT * FROM videos")

    def video_count(self) -> int:
        return int(self._all("SELECT count(*) FROM videos")[0][0])

    def status_counts(self) -> dict[str, int]:
        return {r["status"]: int(r["n"]) for r in self._all("SELECT status, COUNT(*) AS n FROM videos GROUP BY status")}

    def suspect_count(self) -> int:
        """Videos whose last check failed but whose removal is not confirmed yet."""
        return int(self._all("SELECT COUNT(*) FROM videos WHERE failed_checks > 0 AND status != 'removed'")[0][0])

    def video_ids(self, order: str = "archived") -> list[str]:
        """Every video id, in archiving order (``archived``) or upload order (``upload``)."""
        by = {"archived": "archived_at, id", "upload": "upload_date, id"}[order]
        return [r[0] for r in self._all(f"SELECT id FROM videos ORDER BY {by}")]

    def checkable_video_ids(self) -> list[str]:
        """Every video that has a page to re-check (not a local file), by id."""
        return [r[0] for r in self._all("SELECT id FROM videos WHERE extractor != 'local' ORDER BY id")]

    def video_ids_by_channel(self, channel: str) -> list[str]:
        p = self.P
        return [r[0] for r in self._all(
            f"SELECT id FROM videos WHERE lower(channel) = lower({p}) OR channel_id = {p} OR channel_url = {p}"
            f" OR lower(uploader) = lower({p}) ORDER BY upload_date, id", (channel, channel, channel, channel))]

    def video_ids_by_title(self, text: str) -> list[str]:
        return [r[0] for r in self._all(f"SELECT id FROM videos WHERE title {self.LIKE_CI} {self.P} ORDER BY upload_date, id",
                                        (f"%{text}%",))]

    def video_urls(self) -> set[str]:
        return {r[0] for r in self._all("SELECT webpage_url FROM videos")}

    def row_counts(self, tables: Iterable[str] = TABLES) -> dict[str, int]:
        """How many rows each table holds (what a migration or a stats page compares).

        Arguments:
            tables: names from ``TABLES`` (others are refused: they go into the SQL text).

        Returns:
            ``{table: rows}``.
        """
        out: dict[str, int] = {}
        for t in tables:
            if t not in TABLES:
                raise ValueError(f"not a catalogue table: {t!r}")
            out[t] = int(self._all(f"SELECT count(*) FROM {t}")[0][0])
        return out

    # -- media -----------------------------------------------------------------------------------------------------
    def add_media_file(self, rec: MediaRecord) -> None:
        """Catalogue a video's fetch of a file: the file once (by SHA-256), the fetch once per video."""
        with self.transaction():
            self._execute(
                "INSERT INTO media_files(sha256, path, size, container, video_codec, audio_codec, width, height, duration, fetched_at)"
                f" VALUES ({self._marks(10)}) ON CONFLICT (sha256) DO NOTHING",
                (rec.sha256, rec.path, rec.size, rec.container, rec.video_codec, rec.audio_codec, rec.width, rec.height,
                 rec.duration, rec.fetched_at))
            self._execute(
                "INSERT INTO media_fetches(video_id, sha256, format_id, source_url, final_url, http_status, http_headers,"
                f" fetch_started_at, fetched_at, fetcher, fetcher_version, clipwatch_version) VALUES ({self._marks(12)})"
                " ON CONFLICT (video_id, sha256) DO NOTHING",
                (rec.video_id, rec.sha256, rec.format_id, rec.source_url, rec.final_url, rec.http_status,
                 json.dumps(rec.http_headers), rec.fetch_started_at, rec.fetched_at, rec.fetcher, rec.fetcher_version,
                 rec.clipwatch_version))
            self._execute(f"UPDATE videos SET media_sha256 = {self.P} WHERE id = {self.P}", (rec.sha256, rec.video_id))

    def media_file(self, sha256: str, video_id: str | None = None) -> Row | None:
        """The file joined with a video's fetch of it (``video_id``'s own provenance; the first fetch when None)."""
        p = self.P
        if video_id is not None:
            return self._one(f"SELECT * FROM video_media WHERE sha256 = {p} AND video_id = {p} ORDER BY fetched_at LIMIT 1",
                             (sha256, video_id))
        return self._one(f"SELECT * FROM video_media WHERE sha256 = {p} ORDER BY fetched_at LIMIT 1", (sha256,))

    def video_media(self, video_id: str) -> Row | None:
        """A video's current original, with that video's own fetch provenance."""
        v = self.find_video(video_id)
        return self.media_file(v["media_sha256"], v["id"]) if v is not None and v["media_sha256"] else None

    def media_for_video(self, video_id: str) -> list[Row]:
        """Every original a video has had (one row per fetch), oldest first."""
        return self._all(f"SELECT * FROM video_media WHERE video_id = {self.P} ORDER BY fetched_at", (video_id,))

    def media_rows(self) -> list[Row]:
        """Every file in the catalogue, one row each."""
        return self._all("SELECT * FROM media_files ORDER BY sha256")

    def media_fetches(self, video_id: str | None = None) -> list[Row]:
        """The fetches (one per video and file), in the order they were recorded; one video's when given."""
        if video_id is None:
            return self._all("SELECT * FROM media_fetches ORDER BY id")
        return self._all(f"SELECT * FROM media_fetches WHERE video_id = {self.P} ORDER BY id", (video_id,))

    # -- events: the hash chain ------------------------------------------------------------------------------------
    def add_event(self, kind: str, *, video_id: str | None = None, source_id: int | None = None,
                  media_sha256: str | None = None, detail: dict[str, Any] | None = None) -> int:
        """Append one event to the hash-chained log (see ``pipeline.storage.chain``).

        Arguments:
            kind: what happened.
            video_id, source_id, media_sha256: what it happened to.
            detail: what the event records (JSON-able).

        Returns:
            The event's id.
        """
        with self.transaction():
            return self._append_event(kind, video_id=video_id, source_id=source_id, media_sha256=media_sha256,
                                      detail=detail)

    def _append_event(self, kind: str, **fields: Any) -> int:
        self._lock_events()
        return self._insert_event(chain.new_event(self.chain_head(), kind, at=utcnow(), **fields))

    def chain_head(self) -> tuple[int, str, str]:
        """(id, hash, at) of the newest event; (0, GENESIS, '') for an empty log."""
        row = self._one("SELECT id, hash, at FROM events ORDER BY id DESC LIMIT 1")
        return (int(row["id"]), row["hash"] or chain.GENESIS, row["at"]) if row else (0, chain.GENESIS, "")

    def chain_report(self) -> chain.ChainReport:
        """Walk the event chain: the first broken link, the head (id, hash) to keep elsewhere."""
        return chain.walk(self._execute("SELECT * FROM events ORDER BY id"), issued=self._events_issued(),
                          present=self._event_triggers(), expected=self.EVENT_TRIGGERS, head=self.chain_head())

    def events(self, video_id: str | None = None) -> list[Row]:
        if video_id is None:
            return self._all("SELECT * FROM events ORDER BY id")
        return self._all(f"SELECT * FROM events WHERE video_id = {self.P} ORDER BY id", (video_id,))

    def events_of_kind(self, kind: str) -> list[Row]:
        """Every event of one kind (``upgraded``, ``verified`` …), oldest first."""
        return self._all(f"SELECT * FROM events WHERE kind = {self.P} ORDER BY id", (kind,))

    def events_of_kinds(self, kinds: Iterable[str], limit: int = 1000) -> list[Row]:
        """The latest events of these kinds, newest first (host outages, retractions: few, read by kind)."""
        kinds = list(kinds)
        return self._all(f"SELECT * FROM events WHERE kind IN ({self._marks(len(kinds))}) ORDER BY id DESC LIMIT {self.P}",
                         (*kinds, int(limit)))

    def last_event(self, video_id: str, kind: str) -> Row | None:
        return self._one(f"SELECT * FROM events WHERE video_id = {self.P} AND kind = {self.P} ORDER BY id DESC LIMIT 1",
                         (video_id, kind))

    def fetched_events(self, video_id: str, sha256: str) -> list[Row]:
        """The `fetched` events that recorded this video getting this file."""
        return self._all(f"SELECT * FROM events WHERE video_id = {self.P} AND kind = 'fetched' AND media_sha256 = {self.P}"
                         " ORDER BY id", (video_id, sha256))

    def manifest_record(self, video_id: str) -> Row | None:
        return self._one(f"SELECT * FROM manifests WHERE video_id = {self.P}", (video_id,))

    def set_manifest_record(self, video_id: str, path: str, sha256: str, files: int) -> None:
        with self.transaction():
            self._execute(f"INSERT INTO manifests(video_id, path, sha256, files, recorded_at) VALUES ({self._marks(5)})"
                          " ON CONFLICT (video_id) DO UPDATE SET path = excluded.path, sha256 = excluded.sha256,"
                          " files = excluded.files, recorded_at = excluded.recorded_at",
                          (video_id, path, sha256, files, utcnow()))

    # -- derivatives -----------------------------------------------------------------------------------------------
    def replace_keyframes(self, video_id: str, media_sha256: str, keyframes: Iterable[Any], detector: str,
                          tool_version: str) -> None:
        """A video's keyframes (one per shot: ``shot_index``, ``shot_start``, ``shot_end``, ``time``, ``path``,
        ``phash`` unsigned) replace the ones it had."""
        with self.transaction():
            self._execute(f"DELETE FROM keyframes WHERE video_id = {self.P}", (video_id,))
            rows = [(video_id, media_sha256, k.shot_index, k.shot_start, k.shot_end, k.time, k.path, to_signed64(k.phash),
                     detector, tool_version) for k in keyframes]
            if rows:
                self._executemany(
                    "INSERT INTO keyframes(video_id, media_sha256, shot_index, shot_start, shot_end, time, path, phash,"
                    f" detector, tool_version) VALUES ({self._marks(10)})", rows)

    def keyframe_hashes(self) -> list[Row]:
        """(video_id, time, phash, shot_start, shot_end) of every keyframe: the rows a re-upload index is built from."""
        return self._all("SELECT video_id, time, phash, shot_start, shot_end FROM keyframes")

    def keyframes(self, video_id: str) -> list[Row]:
        return self._all(f"SELECT * FROM keyframes WHERE video_id = {self.P} ORDER BY time", (video_id,))

    def transcript_rows(self, video_id: str) -> list[Row]:
        return self._all(f"SELECT * FROM transcripts WHERE video_id = {self.P} ORDER BY kind", (video_id,))

    def segments(self, video_id: str, kind: str = "original") -> list[Row]:
        """A video's lines of one transcript kind (``original``, ``translation``, ``screen``), by start time."""
        return self._all(f"SELECT {SEGMENT_COLUMNS} FROM segments s JOIN transcripts t ON t.id = s.transcript_id"
                         f" WHERE s.video_id = {self.P} AND t.kind = {self.P} ORDER BY s.start", (video_id, kind))

    def segment_words(self, segment_id: int) -> str | None:
        """A line's stored word timings (``pipeline.domain.pack_words``), None when it has none."""
        row = self._one(f"SELECT words FROM segment_words WHERE segment_id = {self.P}", (segment_id,))
        return None if row is None else str(row["words"])

    def replace_tags(self, video_id: str, tags: Iterable[Any], model_version: str) -> None:
        """Replace the model's tags; human corrections (origin='human') are kept."""
        with self.transaction():
            self._execute(f"DELETE FROM tags WHERE video_id = {self.P} AND origin = 'model'", (video_id,))
            rows = [(video_id, t.category, float(t.score), int(t.decision), json.dumps(list(t.evidence), ensure_ascii=False),
                     model_version, utcnow()) for t in tags]
            if rows:
                p = self.P
                self._executemany("INSERT INTO tags(video_id, category, score, decision, evidence, origin, model_version,"
                                  f" created_at) VALUES ({p}, {p}, {p}, {p}, {p}, 'model', {p}, {p})", rows)

    def set_human_tag(self, video_id: str, category: str, value: bool, evidence: list[str]) -> None:
        """A person's decision for one category (origin 'human'): replaces an earlier one, never the model's."""
        p = self.P
        with self.transaction():
            self._execute(
                "INSERT INTO tags(video_id, category, score, decision, evidence, origin, model_version, created_at)"
                f" VALUES ({p}, {p}, {p}, {p}, {p}, 'human', 'human', {p}) ON CONFLICT (video_id, category, origin)"
                " DO UPDATE SET score = excluded.score, decision = excluded.decision, evidence = excluded.evidence,"
                " model_version = excluded.model_version, created_at = excluded.created_at",
                (video_id, category, 1.0 if value else 0.0, int(bool(value)), json.dumps(evidence, ensure_ascii=False), utcnow()))

    def clear_human_tag(self, video_id: str, category: str) -> bool:
        """Remove a person's decision for one category. Returns whether there was one."""
        with self.transaction():
            cur = self._execute(f"DELETE FROM tags WHERE video_id = {self.P} AND category = {self.P} AND origin = 'human'",
                                (video_id, category))
        return bool(cur.rowcount > 0)

    def tags(self, video_id: str) -> list[Row]:
        """Effective tags: a human correction wins over the model for its category."""
        return self._all(
            f"""SELECT * FROM tags t WHERE video_id = {self.P} AND (origin = 'human' OR NOT EXISTS
                 (SELECT 1 FROM tags h WHERE h.video_id = t.video_id AND h.category = t.category AND h.origin = 'human'))
               ORDER BY score DESC""", (video_id,))

    def all_tags(self, video_id: str) -> list[Row]:
        """Every tag row of a video, the model's and people's, by category then origin (``tags`` gives the effective)."""
        return self._all(f"SELECT * FROM tags WHERE video_id = {self.P} ORDER BY category, origin", (video_id,))

    def replace_audio_profile(self, video_id: str, media_sha256: str, profile: Any, path: str | None) -> None:
        with self.transaction():
            self._execute(
                "INSERT INTO audio_profiles(video_id, media_sha256, model_version, duration, speech, music, silence,"
                f" path, created_at) VALUES ({self._marks(9)}) ON CONFLICT (video_id) DO UPDATE SET"
                " media_sha256 = excluded.media_sha256, model_version = excluded.model_version, duration = excluded.duration,"
                " speech = excluded.speech, music = excluded.music, silence = excluded.silence, path = excluded.path,"
                " created_at = excluded.created_at",
                (video_id, media_sha256, getattr(profile, "version", "") or profile.model_version, profile.duration,
                 profile.speech, profile.music, profile.silence, path, utcnow()))

    def audio_profile_row(self, video_id: str) -> Row | None:
        return self._one(f"SELECT * FROM audio_profiles WHERE video_id = {self.P}", (video_id,))

    # -- stage runs ------------------------------------------------------------------------------------------------
    def mark_stage(self, video_id: str, stage: str, key: str, detail: dict[str, Any] | None = None) -> None:
        """Record that ``stage`` finished for a video with this cache key (replacing an earlier run)."""
        with self.transaction():
            self._execute(
                f"INSERT INTO stage_runs(video_id, stage, key, finished_at, detail) VALUES ({self._marks(5)})"
                " ON CONFLICT (video_id, stage) DO UPDATE SET key = excluded.key, finished_at = excluded.finished_at,"
                " detail = excluded.detail",
                (video_id, stage, key, utcnow(), json.dumps(detail or {}, ensure_ascii=False)))

    def stage_done(self, video_id: str, stage: str, key: str) -> bool:
        """Whether ``stage`` last finished for this video with exactly this cache key."""
        row = self._one(f"SELECT key FROM stage_runs WHERE video_id = {self.P} AND stage = {self.P}", (video_id, stage))
        return row is not None and row["key"] == key

    def stage_runs(self, video_id: str) -> list[Row]:
        """A video's finished stages (stage, key, finished_at, detail), by stage name."""
        return self._all(f"SELECT * FROM stage_runs WHERE video_id = {self.P} ORDER BY stage", (video_id,))

    # -- what verify certifies and `clipwatch delete` removes (issue 21) -------------------------------------------
    def segment_rows(self, transcript_id: int) -> list[Row]:
        """A transcript's lines as stored (idx, start, end, text, flags), in order: what a segments digest covers."""
        return self._all(f'SELECT idx, start, "end", text, flags FROM segments WHERE transcript_id = {self.P}'
                         " ORDER BY idx, id", (transcript_id,))

    def tag_rows(self, video_id: str) -> list[Row]:
        """Every tag row of a video (model and human) as a tags digest covers them, by origin then category."""
        return self._all("SELECT category, score, decision, evidence, origin FROM tags"
                         f" WHERE video_id = {self.P} ORDER BY origin, category", (video_id,))

    def lock_events(self) -> None:
        """Inside a transaction: hold the event log's append lock until it ends, so that digests read now cannot be
        overtaken by another writer's newer event before ours is appended."""
        self._lock_events()

    def event_by_id(self, event_id: int) -> Row | None:
        """One event's id, kind, time and hash, or None."""
        return self._one(f"SELECT id, kind, at, hash FROM events WHERE id = {self.P}", (int(event_id),))

    def delete_video_rows(self, video_id: str) -> list[str]:
        """Delete a video's catalogue rows; the caller holds the transaction and records why (the events stay: the
        log is append-only).

        Arguments:
            video_id: the full id.

        Returns:
            The relative paths of the originals that only this video held (for the caller to remove).
        """
        P = self.P
        only = [r["path"] for r in self._all(
            f"SELECT m.path FROM media_files m WHERE m.sha256 IN (SELECT sha256 FROM media_fetches WHERE video_id = {P})"
            f" AND NOT EXISTS (SELECT 1 FROM media_fetches f WHERE f.sha256 = m.sha256 AND f.video_id != {P})",
            (video_id, video_id))]
        tids = [r["id"] for r in self._all(f"SELECT id FROM transcripts WHERE video_id = {P}", (video_id,))]
        present = self._table_names()
        for tid in tids:
            if "segment_words" in present:  # (SQLite's delete trigger clears its search shadows and this table too)
                self._execute(f"DELETE FROM segment_words WHERE segment_id IN (SELECT id FROM segments"
                              f" WHERE transcript_id = {P})", (tid,))
            self._execute(f"DELETE FROM segments WHERE transcript_id = {P}", (tid,))
            if "transcript_segments" in present:
                self._execute(f"DELETE FROM transcript_segments WHERE transcript_id = {P}", (tid,))
        for table in ("transcripts", "keyframes", "tags", "stage_runs", "manifests", "audio_profiles",
                      "audio_fingerprints", "metadata_versions", "speaker_turns", "voices", "voice_names",
                      "stream_segments"):
            if table in present:
                self._execute(f"DELETE FROM {table} WHERE video_id = {P}", (video_id,))
        self._execute(f"DELETE FROM copy_links WHERE original_id = {P} OR copy_id = {P}", (video_id, video_id))
        self._execute(f"DELETE FROM media_fetches WHERE video_id = {P}", (video_id,))
        self._execute("DELETE FROM media_files WHERE NOT EXISTS (SELECT 1 FROM media_fetches f"
                      " WHERE f.sha256 = media_files.sha256) AND sha256 NOT IN (SELECT media_sha256 FROM videos"
                      f" WHERE media_sha256 IS NOT NULL AND id != {P})", (video_id,))
        self._execute(f"DELETE FROM videos WHERE id = {P}", (video_id,))
        return only


def upsert_video_values(rec: VideoRecord) -> dict[str, Any]:
    """A video record as its columns (lists as JSON)."""
    d = asdict(rec)
    d["categories"] = json.dumps(rec.categories, ensure_ascii=False)
    d["platform_tags"] = json.dumps(rec.platform_tags, ensure_ascii=False)
    return d


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
