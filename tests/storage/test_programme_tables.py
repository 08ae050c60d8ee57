"""Programmes and idents (issue 25) on both catalogues: ``replace_programmes`` / ``programmes`` and ``add_ident`` /
``idents``, and the table's upgrade step on an older SQLite archive."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from pipeline.storage.base import open_catalogue
from pipeline.storage.sqlite import migrations


@pytest.fixture(params=["sqlite", "postgresql"])
def cat(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'clipwatch.db'}"
    else:
        url = request.getfixturevalue("pg").create_database(f"p_{uuid.uuid4().hex[:10]}")
    with open_catalogue(url) as c:
        yield c


def _prog(start: str, end: str, title: str | None = None, source: str | None = None) -> dict:
    return {"air_start": start, "air_end": end, "title": title, "title_source": source,
            "evidence": {"start": {"cues": [{"kind": "ident", "score": 0.9}]}}, "video_ids": ["s1", "s2"]}


def test_programmes_are_replaced_over_the_span_detected_again(cat):
    day = ("2026-12-06T00:00:00.000Z", "2026-12-07T00:00:00.000Z")
    n = cat.replace_programmes("kctv", *day, [_prog("2026-12-06T20:00:00.000Z", "2026-12-06T20:30:00.000Z", "News",
                                                    "screen"),
                                              _prog("2026-12-06T20:30:04.000Z", "2026-12-06T21:00:00.000Z")])
    assert n == 2
    cat.replace_programmes("rodong", *day, [_prog("2026-12-06T20:00:00.000Z", "2026-12-06T21:00:00.000Z")])
    rows = cat.programmes("kctv")
    assert [(r["title"], r["title_source"]) for r in rows] == [("News", "screen"), (None, None)]
    assert rows[0]["evidence"]["start"]["cues"][0]["kind"] == "ident" and rows[0]["video_ids"] == ["s1", "s2"]
    # overlapping [start, end)
    assert len(cat.programmes("kctv", "2026-12-06T20:30:00.000Z", "2026-12-06T20:30:05.000Z")) == 1
    assert cat.programmes("kctv", "2026-12-06T21:00:00.000Z") == []
    # detecting the day again replaces that day's programmes of that channel only
    cat.replace_programmes("kctv", *day, [_prog("2026-12-06T20:00:00.000Z", "2026-12-06T21:00:00.000Z", "Film",
                                                "speech")])
    assert [r["title"] for r in cat.programmes("kctv")] == ["Film"]
    assert len(cat.programmes("rodong")) == 1


def test_bad_programmes_are_refused(cat):
    with pytest.raises(ValueError, match="milliseconds"):
        cat.replace_programmes("kctv", "2026-12-06T00:00:00.000Z", "2026-12-07T00:00:00.000Z",
                               [_prog("2026-12-06 20:00", "2026-12-06T20:30:00.000Z")])
    with pytest.raises(ValueError, match="title_source"):
        cat.replace_programmes("kctv", "2026-12-06T00:00:00.000Z", "2026-12-07T00:00:00.000Z",
                               [_prog("2026-12-06T20:00:00.000Z", "2026-12-06T20:30:00.000Z", "x", "guess")])
    assert cat.programmes("kctv") == []


def test_idents_keep_their_fingerprints(cat):
    a = cat.add_ident("kctv", "morning ident", b"\x01\x02\x03\x04" * 10, 4.5)
    b = cat.add_ident("kctv", "news jingle", b"\xff\x00\x00\x00" * 3, 2.0)
    cat.add_ident("rodong", "other", b"\x00" * 8, 2.0)
    rows = cat.idents("kctv")
    assert [r["id"] for r in rows] == [a, b] and a != b
    assert rows[0]["fingerprint"] == b"\x01\x02\x03\x04" * 10 and rows[0]["duration"] == 4.5
    assert rows[1]["name"] == "news jingle"
    assert cat.row_counts(["programmes", "idents"]) == {"programmes": 0, "idents": 3}


def test_an_older_sqlite_archive_gains_the_tables(tmp_path):
    path = tmp_path / "clipwatch.db"
    with open_catalogue(f"sqlite://{path}"):
        pass
    db = sqlite3.connect(path)
    db.execute("DROP TABLE programmes")
    db.execute("DROP TABLE idents")
    db.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with open_catalogue(f"sqlite://{path}") as cat:
        assert cat.add_ident("kctv", "x", b"\x01\x00\x00\x00", 2.0) >= 1
        assert [r["name"] for r in cat.idents("kctv")] == ["x"]
    assert migrations.LATEST == 6
