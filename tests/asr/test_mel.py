"""The faster-whisper engine's blocked log-Mel spectrogram (pipeline/asr/mel.py): faster-whisper's output, less memory.

Real speech: tests/media/transcribe/en_short.opus (the transcription tests' clip) decoded to 16 kHz.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor

from pipeline import asr as tr
from pipeline.asr.mel import BLOCK_FRAMES, BlockedFeatureExtractor, _padded
from pipeline.media.audio import SAMPLE_RATE, load_audio

CLIP = Path(__file__).resolve().parents[1] / "media" / "transcribe" / "en_short.opus"


def _same_as_faster_whisper(samples: np.ndarray, **kwargs) -> None:
    want = FeatureExtractor()(samples, **kwargs)
    got = BlockedFeatureExtractor()(samples, **kwargs)
    assert got.shape == want.shape and got.dtype == np.float32
    # the filter product over a block may round differently in the last place (values are about -1.5 to 1.5)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-7)


def test_real_speech_looped_past_several_blocks():
    speech = load_audio(CLIP)
    looped = np.tile(speech, int(np.ceil(3.5 * BLOCK_FRAMES * 160 / speech.size)))
    assert looped.size > 3 * BLOCK_FRAMES * 160
    _same_as_faster_whisper(looped)
    _same_as_faster_whisper(looped, padding=0)


@pytest.mark.parametrize("frames", [BLOCK_FRAMES - 2, BLOCK_FRAMES - 1, BLOCK_FRAMES, BLOCK_FRAMES + 1,
                                    2 * BLOCK_FRAMES + 37])
def test_lengths_around_block_edges(frames):
    noise = np.random.default_rng(frames).standard_normal(frames * 160 + 17).astype(np.float32) * 0.1
    _same_as_faster_whisper(noise)


def test_float64_input_and_chunk_length_as_faster_whisper():
    noise = np.random.default_rng(3).standard_normal(40 * SAMPLE_RATE) * 0.1
    _same_as_faster_whisper(noise)
    fe = BlockedFeatureExtractor()
    fe(noise[: SAMPLE_RATE], chunk_length=20)
    assert fe.n_samples == 20 * SAMPLE_RATE and fe.nb_max_frames == 2000


@pytest.mark.parametrize("n", [201, 202, 999, 16000])
def test_padding_matches_numpy_reflect(n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    assert np.array_equal(_padded(x, 160, 200), np.pad(np.pad(x, (0, 160)), (200, 200), mode="reflect"))
    assert np.array_equal(_padded(x, 0, 200), np.pad(x, (200, 200), mode="reflect"))


def _peak_bytes(extractor, samples: np.ndarray) -> int:
    tracemalloc.start()
    try:
        extractor(samples)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_two_minute_window_needs_a_fraction_of_faster_whispers_memory():
    window = np.random.default_rng(0).standard_normal(120 * SAMPLE_RATE).astype(np.float32) * 0.1
    theirs = _peak_bytes(FeatureExtractor(), window)
    ours = _peak_bytes(BlockedFeatureExtractor(), window)
    # numpy reports its buffers to tracemalloc: faster-whisper holds frames and spectra of the whole window
    assert theirs > 100e6
    assert ours < 30e6 and ours < theirs / 4


@pytest.mark.slow
def test_the_engine_computes_its_features_blocked(tmp_path_factory):
    engine = tr.get_transcriber("faster-whisper", "tiny.en", tmp_path_factory.mktemp("models"))
    assert isinstance(engine.model.feature_extractor, BlockedFeatureExtractor)
