"""Programme boundaries on exact synthetic broadcasts (pipeline/testing/broadcast.py): each cue where it was put,
within a second; a hard cut or a pause inside a programme is no boundary; an ident cut in two by the recorder's
segmenting is still heard; the fusion rule (one strong or two weak kinds)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from pipeline.errors import MediaError
from pipeline.media.probe import run_ffmpeg
from pipeline.programmes.boundaries import Recording, detect, fuse
from pipeline.programmes.cues import Cue, measure_frames, picture_cues, silence_cues
from pipeline.programmes.idents import find_ident, ident_from_pcm
from pipeline.testing.broadcast import RATE, jingle, make_broadcast

T0 = datetime(2026, 12, 6, 20, 0, tzinfo=timezone.utc)
DAY = [("programme", 30), ("cut", 14), ("programme", 16), ("black", 2), ("ident", 4), ("programme", 30),
       ("ident", 4), ("programme", 16), ("quiet", 4), ("programme", 12), ("bars", 3), ("programme", 25)]


@pytest.fixture(scope="module")
def broadcast(tmp_path_factory):
    path = tmp_path_factory.mktemp("broadcast") / "day.mp4"
    return path, make_broadcast(path, DAY)


@pytest.fixture(scope="module")
def ident():
    return ident_from_pcm(jingle("ident", 4.0), RATE, "station ident", "kctv")


def near(times, t, tol=1.0):
    return any(abs(x - t) <= tol for x in times)


def test_picture_cues_are_where_they_were_put(broadcast):
    path, truth = broadcast
    cues = picture_cues(measure_frames(path))
    black = [c for c in cues if c.kind == "black"]
    bars = [c for c in cues if c.kind == "bars"]
    assert len(black) == 1 and abs(black[0].start - truth["black"][0]) <= 1.0 and abs(black[0].end - 62.0) <= 1.0
    assert len(bars) == 1 and abs(bars[0].start - truth["bars"][0]) <= 1.0
    logo = [c.start + 0.5 for c in cues if c.kind == "logo"]
    # the corner logo leaves at the black and at each ident/bars, and comes back after them
    for t in (truth["black"][0], truth["ident"][1], truth["bars"][0]):
        assert near(logo, t), (t, logo)
    # the hard cut at 30 s keeps the logo: no logo cue there
    assert not near(logo, truth["cut"][0], 3.0)


def test_silences_are_found_and_short_pauses_are_not():
    x = np.concatenate([np.full(RATE * 3, 0.1, np.float32), np.zeros(RATE * 2, np.float32),
                        np.full(RATE * 3, 0.1, np.float32), np.zeros(RATE // 2, np.float32),
                        np.full(RATE * 2, 0.1, np.float32)])
    cues = silence_cues(x, RATE)
    assert [(round(c.start, 1), round(c.end, 1)) for c in cues] == [(3.0, 5.0)]


def test_a_marked_ident_is_found_where_it_plays_and_nowhere_else(ident):
    from pipeline.copies.fingerprint import fingerprint_pcm

    rng = np.random.default_rng(3)
    noise = (0.1 * rng.standard_normal(RATE * 30)).astype(np.float32)
    x = noise.copy()
    x[RATE * 7:RATE * 11] = jingle("ident", 4.0)
    x[RATE * 20:RATE * 24] = jingle("ident2", 4.0)  # another channel's jingle is not this ident
    cues = find_ident(fingerprint_pcm(x, RATE), ident)
    assert [round(c.start) for c in cues] == [7]
    assert abs(cues[0].start - 7.0) <= 0.5 and cues[0].detail["ident"] == "station ident"
    assert find_ident(fingerprint_pcm(noise, RATE), ident) == []


def test_an_ident_must_be_long_and_varied_enough():
    with pytest.raises(MediaError, match="3-60 s long"):
        ident_from_pcm(jingle("ident", 1.0), RATE, "short", "kctv")
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(RATE * 5) / RATE)).astype(np.float32)
    with pytest.raises(MediaError, match="steady sound"):
        ident_from_pcm(tone, RATE, "tone", "kctv")


def test_boundaries_over_a_broadcast(broadcast, ident):
    path, truth = broadcast
    boundaries, programmes = detect([Recording(path, T0, "v1")], [ident])
    starts = [b.start - T0.timestamp() for b in boundaries]
    expected = [truth["black"][0], truth["ident"][1], truth["bars"][0]]
    assert len(starts) == len(expected), [(round(s, 1), b.kinds) for s, b in zip(starts, boundaries)]
    for s, t in zip(starts, expected):
        assert abs(s - t) <= 1.0, (starts, expected)
    # no boundary at the hard cut (30 s) nor at the quiet passage (100 s): they are inside programmes
    assert not near(starts, truth["cut"][0], 5.0) and not near(starts, truth["quiet"][0], 5.0)
    assert {"black", "silence", "ident"} <= set(boundaries[0].kinds)
    assert "ident" in boundaries[1].kinds and "bars" in boundaries[2].kinds
    # programmes between them, in air time, with the junctions as evidence
    assert len(programmes) == 4
    assert programmes[0].air_start == "2026-12-06T20:00:00.000Z"
    assert abs(programmes[1].start - (T0.timestamp() + truth["programme"][2])) <= 1.0
    assert programmes[1].evidence["start"]["cues"] and programmes[1].video_ids == ["v1"]


def test_without_the_ident_marked_an_ident_alone_is_no_boundary(broadcast):
    path, truth = broadcast
    boundaries, _ = detect([Recording(path, T0)], [])
    starts = [b.start - T0.timestamp() for b in boundaries]
    assert near(starts, truth["black"][0]) and near(starts, truth["bars"][0])
    assert not near(starts, truth["ident"][1], 3.0)  # only the logo leaves: one weak kind


def test_an_ident_cut_in_two_by_the_recorder_is_heard(broadcast, ident, tmp_path):
    path, truth = broadcast
    cut = truth["ident"][1] + 2.0  # the second ident plays 96-100 s; the recorder cut at 98 s
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    run_ffmpeg(["-i", str(path), "-t", f"{cut}", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(a)])
    run_ffmpeg(["-ss", f"{cut}", "-i", str(path), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(b)])
    recs = [Recording(b, T0 + timedelta(seconds=cut), "s2", None), Recording(a, T0, "s1", cut)]
    boundaries, programmes = detect(recs, [ident])
    idents = [c.start - T0.timestamp() for bd in boundaries for c in bd.cues if c.kind == "ident"]
    assert near(idents, truth["ident"][1]), idents
    assert len(boundaries) == 3
    # the programme before the ident is in the first file, the one after it in the second
    assert [p.video_ids for p in programmes][1:3] == [["s1"], ["s2"]]


def test_fusion_needs_one_strong_or_two_weak_kinds():
    weak = [Cue("black", 10, 11, 1.0), Cue("black", 11.5, 12, 1.0)]
    assert fuse(weak) == []  # one kind twice is still one kind
    assert len(fuse([Cue("black", 10, 11, 1.0), Cue("silence", 10.2, 12, 1.0)])) == 1
    assert len(fuse([Cue("bars", 50, 53, 1.0)])) == 1
    assert fuse([Cue("silence", 10, 12, 1.0), Cue("logo", 15, 16, 0.8)]) == []  # 3 s apart: not together
    # a weak-only junction just before a strong one is dropped, not a programme of its own
    found = fuse([Cue("black", 10, 11, 1.0), Cue("silence", 10, 11, 1.0), Cue("ident", 16, 20, 1.0)])
    assert [(b.start, b.end) for b in found] == [(16, 20)]


def test_without_a_fingerprinter_idents_are_skipped_and_said(broadcast, ident, monkeypatch, caplog):
    import pipeline.programmes.boundaries as mod

    monkeypatch.setattr(mod, "fingerprinter_available", lambda: False)
    path, truth = broadcast
    boundaries, _ = detect([Recording(path, T0)], [ident])
    assert "libchromaprint-tools" in caplog.text
    assert not any(c.kind == "ident" for b in boundaries for c in b.cues)
    assert near([b.start - T0.timestamp() for b in boundaries], truth["black"][0])
