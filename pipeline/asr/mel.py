"""faster-whisper's log-Mel spectrogram, computed a block of frames at a time.

faster-whisper computes the spectrogram of everything it is handed in one go. For one of our 120-second windows
(:data:`pipeline.asr.windows.WINDOW_SECONDS`) that briefly holds about 123 MB of frames and spectra (measured with
tracemalloc): with CTranslate2's encoder (about 70 MB of attention scores per 30 s, which we cannot change), one of
the two largest memory spikes of a batch ingest (issue 19). Here the frames are
windowed, transformed and projected onto the Mel filters 10 seconds at a time, into one float32 array of the result;
the output is faster-whisper's own to within float rounding of the filter product (tests/asr/test_mel.py).

Imported only by the faster-whisper engine (it imports faster-whisper, which loads CTranslate2).
"""

from __future__ import annotations

import numpy as np
from faster_whisper.feature_extractor import FeatureExtractor

BLOCK_FRAMES = 1000  # 10 s of 10-ms frames: 23 MB at most for a 120-s window (45 MB with 30-s blocks), and no slower


class BlockedFeatureExtractor(FeatureExtractor):
    """A drop-in for faster-whisper's ``FeatureExtractor`` whose transient memory is bounded by ``block_frames``."""

    def __init__(self, *args, block_frames: int = BLOCK_FRAMES, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.block_frames = block_frames

    def __call__(self, waveform: np.ndarray, padding: int = 160, chunk_length: int | None = None) -> np.ndarray:
        """The log-Mel spectrogram of ``waveform`` (16 kHz mono), shaped (n_mels, frames), as faster-whisper's.

        Arguments:
            waveform: the samples; any float dtype (converted to float32, as faster-whisper does).
            padding: zeros appended before framing (faster-whisper's default, 160 samples).
            chunk_length: as faster-whisper's: when given, sets the model's input length in seconds.

        Returns:
            A float32 array of n_mels rows and one column per 10-ms frame.
        """
        if chunk_length is not None:
            self.n_samples = chunk_length * self.sampling_rate
            self.nb_max_frames = self.n_samples // self.hop_length
        if len(waveform) + padding <= self.block_frames * self.hop_length:
            return super().__call__(waveform, padding=padding)  # one block anyway: faster-whisper's own code
        samples = _padded(waveform, padding, self.n_fft // 2)
        frames = 1 + (samples.size - self.n_fft) // self.hop_length - 1  # faster-whisper drops the last frame
        window = np.hanning(self.n_fft + 1)[:-1].astype(np.float32)
        mel = np.empty((self.mel_filters.shape[0], frames), dtype=np.float32)
        step = samples.strides[0]
        for start in range(0, frames, self.block_frames):
            stop = min(start + self.block_frames, frames)
            block = np.lib.stride_tricks.as_strided(
                samples[start * self.hop_length:], (stop - start, self.n_fft), (self.hop_length * step, step),
                writeable=False)
            spectrum = np.fft.rfft(block * window, n=self.n_fft, axis=-1).astype(np.complex64, copy=False)
            mel[:, start:stop] = self.mel_filters @ (np.abs(spectrum) ** 2).T
        np.clip(mel, 1e-10, None, out=mel)
        np.log10(mel, out=mel)
        np.maximum(mel, mel.max() - 8.0, out=mel)
        mel += 4.0
        mel /= 4.0
        return mel


def _padded(waveform: np.ndarray, padding: int, half: int) -> np.ndarray:
    """One float32 copy of ``waveform`` with ``padding`` zeros appended, then ``half`` samples reflected at each end.

    What faster-whisper does with a float32 copy and two ``np.pad`` calls (three copies of a window), in one.
    """
    body = len(waveform) + padding
    out = np.zeros(body + 2 * half, dtype=np.float32)
    out[half:half + len(waveform)] = waveform
    out[:half] = out[2 * half:half:-1]  # numpy's "reflect": the edge sample itself is not repeated
    out[half + body:] = out[half + body - 2:body - 2:-1]
    return out
