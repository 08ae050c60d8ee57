"""Whether the audio says a repeated clause again: one copy's sound against another's.

A segment whose text holds a clause back to back ("Long live the leader! Long live the leader! Long live the
leader!") is either speech that repeats (a slogan, a chant, a prompt played three times) or a decoder that looped
and wrote what the audio does not hold. Word timings place each copy in the audio; if every copy sounds like the
first, the repeat was said. The comparison is dynamic time warping over cepstra (13 MFCCs, 20 ms hop, mean
removed per copy), its cost per step of the path: different takes of one sentence by one speaker stay close,
different sentences do not.

Measured on the real prompts of Debian's Asterisk sound packages (pairs of recordings with the same text, and 60
random pairs with different texts, each trimmed to its speech):

================  =====================  ============================
set               same text, max cost    different text, min (5th pct)
================  =====================  ============================
en (tuned)        0.160 (25 pairs)       0.221 (0.298)
es (held out)     0.134 (16 pairs)       0.294 (0.335)
fr (held out)     0.117 (21 pairs)       0.122 (0.300)
================  =====================  ============================

The one French pair under the threshold, ``confbridge-rest-list-vol-in`` and ``confbridge-rest-talk-vol-in``,
differ by one word. ``SAME_SOUND`` sits between the English sets.
"""

from __future__ import annotations

import numpy as np

from pipeline.media.audio import SAMPLE_RATE

#: the highest DTW cost per path step at which two copies count as the same words said again
SAME_SOUND = 0.18
#: frames compared at most per copy (longer copies are subsampled evenly: DTW is quadratic in them)
MAX_FRAMES = 200
_FRAME, _HOP, _NFFT, _BANDS, _CEPSTRA = 400, 320, 512, 40, 13


def _mel_filters() -> np.ndarray:
    def mel(f: np.ndarray | float) -> np.ndarray:
        return 2595 * np.log10(1 + np.asarray(f) / 700)

    edges = 700 * (10 ** (np.linspace(mel(80.0), mel(7600.0), _BANDS + 2) / 2595) - 1)
    bins = np.fft.rfftfreq(_NFFT, 1 / SAMPLE_RATE)
    rising = (bins[None, :] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    falling = (edges[2:, None] - bins[None, :]) / (edges[2:, None] - edges[1:-1, None])
    return np.clip(np.minimum(rising, falling), 0, None)


_MEL = _mel_filters()
_WINDOW = np.hanning(_FRAME)
# DCT-II (orthonormal) rows 1..13: the cepstra without the level (row 0)
_DCT = np.sqrt(2 / _BANDS) * np.cos(np.pi / _BANDS * (np.arange(_BANDS)[None, :] + 0.5) * np.arange(1, _CEPSTRA + 1)[:, None])


def cepstra(audio: np.ndarray) -> np.ndarray:
    """Unit-length, mean-removed MFCC frames (n x 13) of 16 kHz mono audio (at most ``MAX_FRAMES``)."""
    y = np.asarray(audio, np.float64)
    if y.size < _FRAME:
        y = np.pad(y, (0, _FRAME - y.size))
    frames = np.lib.stride_tricks.sliding_window_view(y, _FRAME)[::_HOP] * _WINDOW
    if len(frames) > MAX_FRAMES:
        frames = frames[np.linspace(0, len(frames) - 1, MAX_FRAMES).round().astype(int)]
    power = np.abs(np.fft.rfft(frames, _NFFT)) ** 2
    c = np.log(power @ _MEL.T + 1e-8) @ _DCT.T
    c -= c.mean(axis=0)
    return c / (np.linalg.norm(c, axis=1, keepdims=True) + 1e-9)


def dtw_cost(a: np.ndarray, b: np.ndarray) -> float:
    """Dynamic time warping of two frame sequences on cosine distance: the path's cost per step (0 = same)."""
    dist = 1.0 - a @ b.T
    n, m = dist.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        up = np.minimum(acc[i - 1, :-1], acc[i - 1, 1:])  # from (i-1, j-1) or (i-1, j)
        row, cur = dist[i - 1], acc[i]
        left = np.inf
        for j in range(m):  # from (i, j-1): sequential along the row
            left = row[j] + min(up[j], left)
            cur[j + 1] = left
    return float(acc[n, m] / (n + m))


def sounds_alike(first: np.ndarray, other: np.ndarray) -> bool:
    """Whether two stretches of audio say the same words (``dtw_cost`` of their cepstra <= ``SAME_SOUND``)."""
    return dtw_cost(cepstra(first), cepstra(other)) <= SAME_SOUND
