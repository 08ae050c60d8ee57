"""A recorded stream's closed segment (issue 25) is archived by the `segment` source like a fetched video: the
stream's URL as its provenance, the channel, the air date, the air time in info.json; a file without the recorder's
sidecar stays a plain local file."""

from __future__ import annotations

import pytest

from pipeline.errors import SourceError
from pipeline.media.probe import run_ffmpeg
from pipeline.sources.base import source_for
from pipeline.sources.fetch import FetchOptions, fetch
from pipeline.sources.segment import SegmentFacts, segment_video_id, sidecar_of
from pipeline.testing.hls import make_broadcast_clip

STREAM = "https://tv.example.org/live/kctv.m3u8"


def test_a_closed_segment_is_archived_with_the_stream_as_provenance(tmp_path, archive):
    clip = make_broadcast_clip(tmp_path / "clip.mp4", 3.0)
    seg = tmp_path / "closed" / "00000007.ts"
    seg.parent.mkdir()
    run_ffmpeg(["-i", str(clip), "-c", "copy", "-f", "mpegts", str(seg)])
    assert source_for(str(seg)).name == "local"  # no sidecar yet: a plain file
    facts = SegmentFacts("kctv", STREAM, 7, "2026-12-06T20:14:30.120Z", "2026-12-06T20:14:33.120Z", "stream",
                         closed_by="restart")
    facts.write(seg)
    assert sidecar_of(seg).is_file() and SegmentFacts.read(seg) == facts
    assert source_for(str(seg)).name == "segment"

    got = fetch(str(seg), archive)
    v, m = got.video, got.media
    assert v.id == segment_video_id(facts) and v.id.startswith("record-kctv-20261206T201430120Z")
    assert (v.extractor, v.channel, v.upload_date, v.webpage_url) == ("record", "kctv", "20261206", STREAM)
    assert m is not None and m.source_url == STREAM and m.fetcher == "clipwatch-record" and m.size > 0
    assert got.info["segment"]["air_start"] == facts.air_start and got.info["segment"]["closed_by"] == "restart"
    assert archive.exists(m.path)
    # again: the same air time is the same video, not fetched twice
    assert fetch(str(seg), archive, FetchOptions(is_archived=lambda vid: vid == v.id)).skipped


def test_an_unreadable_sidecar_says_what_to_do(tmp_path, archive):
    seg = tmp_path / "00000001.ts"
    seg.write_bytes(b"\x47" * 188)
    sidecar_of(seg).write_text("{not json")
    with pytest.raises(SourceError, match="record the stream again"):
        fetch(str(seg), archive)
