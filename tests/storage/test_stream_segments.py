"""Recorded streams' segments (issue 25) on both catalogues: ``add_segment`` / ``stream_segments`` (the contract the
recorder and the programme finder share), the table's upgrade step on an older SQLite archive, and PostgreSQL's
migration 0010."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from pipeline.domain import VideoRecord
from pipeline.storage.base import open_catalogue
from pipeline.storage.sqlite import migrations


@pytest.fixture(params=["sqlite", "postgresql"])
def cat(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'clipwatch.db'}"
    else:
        url = request.getfixturevalue("pg").create_database(f"s_{uuid.uuid4().hex[:10]}")
    with open_catalogue(url) as c:
        yield c


def _video(cat, vid: str) -> None:
    cat.upsert_video(VideoRecord(id=vid, extractor="record", platform_id=vid, webpage_url=f"https://tv.example/{vid}",
                                 source_url="https://tv.example/live.m3u8", channel="kctv"), f"videos/{vid}")


def test_segments_by_channel_and_air_time(cat):
    for i, (vid, start, end) in enumerate([("s1", "2026-12-06T20:00:00.000Z", "2026-12-06T20:10:00.000Z"),
                                           ("s2", "2026-12-06T20:10:00.000Z", "2026-12-06T20:20:00.500Z"),
                                           ("s0", "2026-12-06T19:50:00.000Z", "2026-12-06T20:00:00.000Z")]):
        _video(cat, vid)
        cat.add_segment(vid, "kctv", "https://tv.example/live.m3u8", i, start, end, "stream")
    _video(cat, "other")
    cat.add_segment("other", "rodong", None, 0, "2026-12-06T20:05:00.000Z", "2026-12-06T20:06:00.000Z", "receiver")

    rows = cat.stream_segments("kctv")
    assert [r["video_id"] for r in rows] == ["s0", "s1", "s2"]  # air order, not insertion order
    assert rows[1] == {"video_id": "s1", "channel": "kctv", "stream_url": "https://tv.example/live.m3u8", "seq": 0,
                       "air_start": "2026-12-06T20:00:00.000Z", "air_end": "2026-12-06T20:10:00.000Z",
                       "air_clock": "stream"}
    # [start, end) overlap: a segment ending at start, or starting at end, is outside
    assert [r["video_id"] for r in cat.stream_segments("kctv", "2026-12-06T20:00:00.000Z",
                                                        "2026-12-06T20:10:00.000Z")] == ["s1"]
    assert [r["video_id"] for r in cat.stream_segments("kctv", "2026-12-06T20:15:00.000Z")] == ["s2"]
    assert [r["video_id"] for r in cat.stream_segments("kctv", end="2026-12-06T20:00:00.001Z")] == ["s0", "s1"]
    assert [r["video_id"] for r in cat.stream_segments(None)] == ["s0", "s1", "other", "s2"]
    assert cat.stream_segment("other")["air_clock"] == "receiver" and cat.stream_segment("nope") is None
    assert cat.row_counts(["stream_segments"]) == {"stream_segments": 4}

    # again for the same video: replaced, never a second row
    cat.add_segment("s1", "kctv", "https://tv.example/live.m3u8", 7, "2026-12-06T20:00:00.000Z",
                    "2026-12-06T20:09:00.000Z", "receiver")
    assert [(r["seq"], r["air_clock"]) for r in cat.stream_segments("kctv") if r["video_id"] == "s1"] == [(7, "receiver")]


def test_bad_air_times_are_refused(cat):
    _video(cat, "s1")
    with pytest.raises(ValueError, match="milliseconds"):
        cat.add_segment("s1", "kctv", None, 0, "2026-12-06 20:00:00", None, "stream")
    with pytest.raises(ValueError, match="air_clock"):
        cat.add_segment("s1", "kctv", None, 0, "2026-12-06T20:00:00.000Z", None, "wall")
    assert cat.stream_segments("kctv") == []


def test_a_segment_belongs_to_a_catalogued_video(cat):
    with pytest.raises(Exception):  # the foreign key: a segment row without its video is refused by the database
        cat.add_segment("ghost", "kctv", None, 0, "2026-12-06T20:00:00.000Z", None, "stream")


def test_an_older_sqlite_archive_gains_the_table(tmp_path):
    path = tmp_path / "clipwatch.db"
    with open_catalogue(f"sqlite://{path}"):
        pass
    db = sqlite3.connect(path)
    db.execute("DROP TABLE stream_segments")
    db.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with open_catalogue(f"sqlite://{path}") as cat:
        _video(cat, "s1")
        cat.add_segment("s1", "kctv", None, 0, "2026-12-06T20:00:00.000Z", None, "receiver")
        assert [e["kind"] for e in cat.events_of_kind("upgraded")] == ["upgraded"]
        assert [r["video_id"] for r in cat.stream_segments("kctv")] == ["s1"]
    assert migrations.LATEST >= 5  # later steps (programmes: 6) come after it
