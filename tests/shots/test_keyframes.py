"""Shot detection and keyframes on lavfi videos with known cuts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.errors import MediaError  # noqa: E402
from pipeline.shots.detectors import AdaptiveDetector, ContentDetector, FadeDetector, SampledFrame, make_detectors  # noqa: E402
from pipeline.shots.keyframes import KeyframeResult, extract_keyframes  # noqa: E402
from pipeline.shots.phash import hamming, phash, phash_pair  # noqa: E402
from pipeline.testing.media import make_cut_video, make_fade_video, make_motion_video, truncate_copy, write_garbage  # noqa: E402

FPS = 25
CUTS = [1.6, 3.2, 5.0, 6.4, 8.2, 9.6]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kf_media")


@pytest.fixture(scope="module")
def cut_video(media) -> Path:
    return make_cut_video(media / "cuts.mp4", CUTS, size=(320, 240), fps=FPS, duration=11.0, with_audio=True)


def _assert_cuts(result: KeyframeResult, expected: list[float], step_frames: int = 1) -> None:
    found = [s.start for s in result.shots[1:]]
    tol = step_frames / FPS + 1e-6
    assert len(found) == len(expected), (found, expected)
    for f, e in zip(found, expected):
        assert abs(f - e) <= tol, (found, expected)


@pytest.mark.parametrize("detector", ["adaptive", "content", "adaptive+fade"])
def test_hard_cuts_found_within_one_frame(cut_video, tmp_path, detector):
    r = extract_keyframes(cut_video, tmp_path, detector=detector)
    _assert_cuts(r, CUTS)
    assert r.shots[0].start == 0.0 and r.shots[-1].end == pytest.approx(11.0, abs=0.1)
    assert all(s.transition == "cut" for s in r.shots[1:])
    assert r.detector == detector and r.tool_version


def test_reduced_sampling_rate_within_one_step(cut_video, tmp_path):
    r = extract_keyframes(cut_video, tmp_path, sample_step=2)
    assert r.sample_step == 2 and r.frames_decoded == pytest.approx(11 * FPS / 2, abs=2)
    _assert_cuts(r, CUTS, step_frames=2)


def test_opencv_backend_agrees(cut_video, tmp_path):
    r = extract_keyframes(cut_video, tmp_path, backend="opencv")
    _assert_cuts(r, CUTS)


def test_colour_cards_cut(media, tmp_path):
    p = make_cut_video(media / "colour.mp4", [1.0, 2.0, 3.2], pattern="colour", duration=4.4)
    r = extract_keyframes(p, tmp_path)
    _assert_cuts(r, [1.0, 2.0, 3.2])
    assert all(k.phash == 0 for k in r.keyframes)  # flat pictures are not hashable


@pytest.mark.parametrize("kind", ["pan", "zoom", "shake"])
def test_camera_motion_does_not_fire_adaptive(media, tmp_path, kind):
    p = make_motion_video(media / f"{kind}.mp4", duration=6.0, kind=kind, speed=1.5)
    r = extract_keyframes(p, tmp_path, detector="adaptive")
    assert len(r.shots) == 1, [s.start for s in r.shots]


def test_fast_pan_does_not_fire_adaptive(media, tmp_path):
    p = make_motion_video(media / "whip.mp4", duration=5.0, kind="pan", speed=8.0)
    adaptive = extract_keyframes(p, tmp_path / "a", detector="adaptive")
    assert len(adaptive.shots) == 1


def test_fades_through_black(media, tmp_path):
    p, mids = make_fade_video(media / "fade.mp4", [2.5, 2.5, 2.5], fade=0.6, black=0.4)
    r = extract_keyframes(p, tmp_path)  # default: adaptive+fade
    assert [s.transition for s in r.shots[1:]] == ["fade", "fade"]
    for s, m in zip(r.shots[1:], mids):
        assert abs(s.start - m) <= 0.2 + 1e-6  # middle of the black run, within its half-length
    only_fade = extract_keyframes(p, tmp_path / "f", detector="fade")
    assert len(only_fade.shots) == 3


def test_keyframe_jpegs(cut_video, tmp_path):
    r = extract_keyframes(cut_video, tmp_path)
    assert len(r.keyframes) == len(r.shots) == len(CUTS) + 1
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted(k.path for k in r.keyframes)  # no temporary files left behind
    for kf, shot in zip(r.keyframes, r.shots):
        img = cv2.imread(str(tmp_path / kf.path))
        assert img is not None and max(img.shape[:2]) <= 640 and img.shape[:2] == (240, 320)
        assert kf.shot_index == shot.index and (kf.shot_start, kf.shot_end) == (shot.start, shot.end)
        # near the middle of the shot, never on its first frame
        mid = (shot.start + shot.end) / 2
        assert abs(kf.time - mid) <= 0.25 * (shot.end - shot.start) + 0.05
        assert kf.time > shot.start
        assert kf.phash != 0 and kf.phash == phash(img) or hamming(kf.phash, phash(img)) <= 4
        assert 0 <= kf.phash < 2**64 and kf.sharpness > 0


def test_keyframe_size_capped_at_640(media, tmp_path):
    p = make_cut_video(media / "hd.mp4", [1.0], size=(1280, 720), duration=2.0)
    r = extract_keyframes(p, tmp_path)
    img = cv2.imread(str(tmp_path / r.keyframes[0].path))
    assert img.shape[:2] == (360, 640)


def test_long_shot_gets_a_keyframe_every_30s(media, tmp_path):
    p = make_cut_video(media / "long.mp4", [65.0], size=(160, 120), fps=10, duration=70.0)
    r = extract_keyframes(p, tmp_path)
    assert [s.start for s in r.shots] == [0.0, 65.0]
    first = [k for k in r.keyframes if k.shot_index == 0]
    assert len(first) == 3  # 0-30, 30-60, 60-65
    assert [k.time // 30 for k in first] == [0, 1, 2]
    assert all(k.shot_end == 65.0 for k in first)


def test_progress_reported(cut_video, tmp_path):
    seen = []
    extract_keyframes(cut_video, tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] >= 10.5 and all(t == pytest.approx(11.0, abs=0.2) for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_sharpest_frame_preferred():
    img = np.zeros((120, 160, 3), np.uint8)
    cv2.putText(img, "clipwatch", (5, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    from pipeline.shots.keyframes import sharpness

    assert sharpness(img) > sharpness(cv2.GaussianBlur(img, (0, 0), 3))


def test_not_a_video_raises_media_error(media, tmp_path):
    with pytest.raises(MediaError, match="not a media file|cannot be decoded"):
        extract_keyframes(write_garbage(media / "garbage.mp4"), tmp_path)
    text = media / "notes.txt"
    text.write_text("hello, this is not a video\n" * 100)
    with pytest.raises(MediaError):
        extract_keyframes(text, tmp_path)
    with pytest.raises(MediaError, match="no such file"):
        extract_keyframes(media / "missing.mp4", tmp_path)


def test_corrupt_video_raises_media_error(cut_video, media, tmp_path):
    with pytest.raises(MediaError) as err:
        extract_keyframes(truncate_copy(cut_video, media / "headless.mp4"), tmp_path)
    assert "headless.mp4" in str(err.value)


def test_audio_only_file_raises_media_error(media, tmp_path):
    from pipeline.media.probe import run_ffmpeg

    wav = media / "tone.wav"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=d=1", str(wav)])
    with pytest.raises(MediaError, match="no video stream"):
        extract_keyframes(wav, tmp_path)


def test_unknown_detector_is_a_media_error(cut_video, tmp_path):
    with pytest.raises(MediaError, match="unknown detector"):
        extract_keyframes(cut_video, tmp_path, detector="magic")


def test_detector_interface_on_synthetic_frames():
    """Detectors work on plain frames: a flat grey run, then a red card."""
    grey = np.full((72, 128, 3), 128, np.uint8)
    red = np.zeros_like(grey)
    red[..., 2] = 255
    black = np.zeros_like(grey)
    seq = [grey] * 20 + [red] * 20 + [black] * 6 + [grey] * 20
    for det, expect in [(ContentDetector(), [20, 40, 46]), (AdaptiveDetector(), [20, 40, 46]), (FadeDetector(), [43])]:
        cuts = []
        for i, f in enumerate(seq):
            cuts += det.process(SampledFrame(i, i / 25, f))
        cuts += det.flush()
        got = [c.index for c in cuts]
        # min_scene_len (15) suppresses the cut back out of the short black run
        assert got == [e for e in expect if e != 46] or got == expect, (det.name, got)
    dets = make_detectors("adaptive+fade")
    assert [d.name for d in dets] == ["adaptive", "fade"] and dets[0].skip_black


def test_phash_mirror_and_robustness():
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 255, (8, 8), dtype=np.uint8), (320, 240), interpolation=cv2.INTER_CUBIC)
    img = cv2.cvtColor(base, cv2.COLOR_GRAY2BGR)
    h, hm = phash_pair(img)
    assert h != 0 and hm == phash(cv2.flip(img, 1))
    small = cv2.resize(img, (160, 120), interpolation=cv2.INTER_AREA)
    assert hamming(h, phash(small)) <= 4
    padded = cv2.copyMakeBorder(img, 30, 30, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    assert hamming(h, phash(padded)) <= 6  # letterbox trimmed away
    assert phash(np.full((240, 320, 3), 90, np.uint8)) == 0
    assert hamming(-1, 2**64 - 1) == 0  # signed and unsigned forms agree


@pytest.mark.parametrize("step,kf_every", [(1, 1), (1, 5), (2, 3), (1, 60)])
def test_reader_pairs_keyframe_size_frames_without_stalling(cut_video, step, kf_every):
    """The ffmpeg reader's second output (keyframe size) comes about one of its
    frames late; the reader must keep draining the first one meanwhile (a
    stall here once hung the whole pass when kf_every exceeded the pipe)."""
    import threading

    from pipeline.media.frames import read_frames_ffmpeg

    out: list = []
    worker = threading.Thread(target=lambda: out.extend(
        read_frames_ffmpeg(cut_video, (64, 48), step, kf_size=(320, 240), kf_every=kf_every)), daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "reader stalled"
    assert [f.index for f in out] == list(range(0, 11 * FPS, step))
    with_kf = [i for i, f in enumerate(out) if f.kf is not None]
    assert with_kf == list(range(0, len(out), kf_every))
    assert all(f.det.shape == (48, 64, 3) for f in out) and out[0].kf.shape == (240, 320, 3)
    # same picture at both sizes: the last shot's keyframe-size frame, shrunk,
    # is far closer to its own detection frame than to the first shot's
    last = out[max(with_kf)]
    small = cv2.resize(last.kf, (64, 48), interpolation=cv2.INTER_AREA).astype(int)
    own, other = np.abs(small - last.det.astype(int)).mean(), np.abs(small - out[0].det.astype(int)).mean()
    assert own < other / 2, (own, other)


def test_shots_only_matches_keyframe_pass(cut_video, tmp_path):
    """detect_shots decodes without deblocking; the cuts are those of the full pass."""
    from pipeline.shots.keyframes import detect_shots

    fast = detect_shots(cut_video)
    full = extract_keyframes(cut_video, tmp_path)
    assert [s.start for s in fast.shots] == [s.start for s in full.shots]
