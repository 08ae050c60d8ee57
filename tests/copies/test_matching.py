"""Re-upload matching: transformed copies of a test video are found; unrelated ones are not."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

from pipeline.copies.matching import HashIndex, QueryFrame, fingerprint_file, index_rows, match_keyframes, match_video  # noqa: E402
from pipeline.shots.keyframes import extract_keyframes  # noqa: E402
from pipeline.shots.phash import hamming  # noqa: E402
from pipeline.testing.media import (  # noqa: E402
    add_border,
    add_logo,
    crop_frac,
    excerpt,
    make_cut_video,
    make_motion_video,
    mirror,
    reencode_small,
)

DURATION = 45.0
EXCERPT_START, EXCERPT_LEN = 17.3, 20.0


def _cuts(seed: int, duration: float) -> list[float]:
    rng, t, out = random.Random(seed), 0.0, []
    while True:
        t += rng.uniform(1.5, 4.5)
        if t > duration - 1:
            return out
        out.append(round(t, 2))


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    d = tmp_path_factory.mktemp("match")
    orig = make_cut_video(d / "orig.mp4", _cuts(1, DURATION), size=(320, 240), duration=DURATION, seed=0)
    unrelated = make_cut_video(d / "unrelated.mp4", _cuts(2, 25), size=(320, 240), duration=25, pattern="gradients", seed=3)
    motion = make_motion_video(d / "motion.mp4", 8.0, (320, 240))
    index = HashIndex()
    results = {}
    for vid, p in [("orig", orig), ("unrelated", unrelated), ("motion", motion)]:
        r = extract_keyframes(p, d / vid)
        results[vid] = r
        index.add(index_rows(vid, r))
    return d, orig, index, results


TRANSFORMS = {
    "reencode_240p_150k": lambda src, dst: reencode_small(src, dst, 240, "150k"),
    "logo": add_logo,
    "border": add_border,
    "crop_10pct": crop_frac,
    "mirror": mirror,
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_transformed_copy_matches(archive, name):
    d, orig, index, _ = archive
    copy = TRANSFORMS[name](orig, d / f"{name}.mp4")
    matches = match_video(copy, index)
    assert matches and matches[0].video_id == "orig", matches
    best = matches[0]
    assert best.score >= 0.5, best
    assert abs(best.offset) <= 1.0
    assert best.mirrored == (name == "mirror")
    assert all(m.score < 0.2 for m in matches[1:])
    assert best.ranges and best.ranges[0][0] <= 5.0


def test_excerpt_found_with_offset(archive):
    d, orig, index, _ = archive
    clip = excerpt(orig, d / "excerpt.mp4", EXCERPT_START, EXCERPT_LEN)
    best = match_video(clip, index)[0]
    assert best.video_id == "orig" and best.score >= 0.6
    assert abs(best.offset - EXCERPT_START) <= 1.0
    q0, q1, a0, a1 = best.ranges[0]
    assert abs((a0 - q0) - EXCERPT_START) <= 1.0 and a1 <= EXCERPT_START + EXCERPT_LEN + 1.5
    assert best.coverage < 0.7  # the excerpt covers only part of the original


def test_unrelated_videos_do_not_match(archive):
    d, _, index, results = archive
    for vid in ("unrelated", "motion"):
        q = fingerprint_file(d / f"{vid}.mp4")
        found = match_keyframes(q, index, exclude=[vid])
        assert found == [], found
        assert match_keyframes(q, index)[0].video_id == vid  # itself, of course


def test_index_accepts_db_rows(archive):
    """Rows as the store keeps them: signed 64-bit phash, sqlite3.Row-like mappings."""
    import sqlite3

    from pipeline.domain import to_signed64

    _, _, _, results = archive
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    db.execute("CREATE TABLE keyframes(video_id, time, phash INTEGER, shot_start, shot_end)")
    db.executemany("INSERT INTO keyframes VALUES (?,?,?,?,?)",
                   [(v, t, to_signed64(h), s0, s1) for v, t, h, s0, s1 in index_rows("orig", results["orig"])])
    index = HashIndex(db.execute("SELECT * FROM keyframes"))
    assert len(index) == sum(1 for k in results["orig"].keyframes if k.phash)
    best = match_keyframes(results["orig"].keyframes, index)[0]
    assert best.video_id == "orig" and best.score == 1.0 and best.offset == 0.0 and best.coverage == 1.0
    # plain (time, phash) tuples work too
    assert match_keyframes([(k.time, k.phash) for k in results["orig"].keyframes], index)[0].score == 1.0


def test_hash_index_lookup_is_exact_within_distance():
    rng = np.random.default_rng(5)
    stored = rng.integers(0, 2**63, 20_000, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    index = HashIndex.from_arrays(np.arange(len(stored)) % 100, np.arange(len(stored), dtype=float), stored)
    target = int(stored[123])
    for dist in (0, 3, 8, 9):
        bits = rng.choice(64, dist, replace=False)
        q = target
        for b in bits:
            q ^= 1 << int(b)
        pos, d = index.lookup(q)
        brute = {i for i, h in enumerate(stored.tolist()) if hamming(h, q) <= 8}
        assert set(pos.tolist()) == brute
        assert (123 in brute) == (dist <= 8)


def test_million_hash_query_under_100ms():
    rng = np.random.default_rng(7)
    n = 1_000_000
    hashes = rng.integers(1, 2**63, n, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    index = HashIndex.from_arrays((np.arange(n) // 20).astype(np.int32), np.zeros(n), hashes)
    index.lookup(1)  # build
    q = int(hashes[4242]) ^ 0b1010_0000_0001
    t = time.perf_counter()
    for _ in range(20):
        pos, d = index.lookup(q)
    per_query = (time.perf_counter() - t) / 20
    assert 4242 in pos.tolist()
    assert per_query < 0.1, per_query


def test_query_frames_from_plain_values():
    index = HashIndex([("a", 1.0, 0x0F0F_0F0F_0F0F_0F0F), ("a", 5.0, 0x1234_5678_9ABC_DEF0), ("b", 2.0, 0)])
    assert len(index) == 2  # flat hash 0 is not indexed
    m = match_keyframes([QueryFrame(11.0, 0x0F0F_0F0F_0F0F_0F0E), QueryFrame(15.0, 0x1234_5678_9ABC_DEF0)], index)
    assert m[0].video_id == "a" and m[0].score == 1.0 and m[0].offset == -10.0
    assert m[0].ranges == [(11.0, 15.0, 1.0, 5.0)]
    assert match_keyframes([(3.0, 0)], index) == []
