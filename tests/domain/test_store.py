"""Video ids are stable and path-safe (the full-text indexes following the segments: tests/storage/test_schema_sql.py)."""

from __future__ import annotations

from pipeline.domain import make_video_id


def test_video_id_is_stable_and_path_safe():
    a = make_video_id("Youtube", "dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    assert a == make_video_id("Youtube", "dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    assert a.startswith("youtube-dQw4w9WgXcQ-")
    hostile = make_video_id("Generic", "../../etc/passwd 🚀", "http://x")
    assert "/" not in hostile and ".." not in hostile
