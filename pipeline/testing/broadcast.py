"""Exact synthetic "broadcasts" for programme-boundary tests: parts laid end to end, with the truth they encode.

A part is one of: ``programme`` (moving test picture, a corner logo, babble-like noise), ``cut`` (a programme part
with another picture: a hard cut inside a programme), ``quiet`` (programme picture, silence), ``black`` (black,
silence), ``bars`` (SMPTE bars, a 1 kHz tone), ``ident`` (a logo card and a jingle of tones; ``ident2`` another).
The picture comes from ffmpeg's lavfi sources, the sound from numpy, muxed into one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from pipeline.media.probe import run_ffmpeg
from pipeline.testing.media import write_wav

RATE = 16_000
SIZE = "320x180"
FPS = 25

_PICTURES = {
    "programme": "testsrc2=s={s}:r={r}:d={d},drawbox=x=iw-60:y=6:w=50:h=30:color=white@1:t=fill,"
                 "drawbox=x=iw-52:y=12:w=34:h=18:color=red@1:t=fill",
    "cut": "testsrc=s={s}:r={r}:d={d},hue=h=120,drawbox=x=iw-60:y=6:w=50:h=30:color=white@1:t=fill,"
           "drawbox=x=iw-52:y=12:w=34:h=18:color=red@1:t=fill",
    "quiet": "testsrc2=s={s}:r={r}:d={d},drawbox=x=iw-60:y=6:w=50:h=30:color=white@1:t=fill,"
             "drawbox=x=iw-52:y=12:w=34:h=18:color=red@1:t=fill",
    "black": "color=c=black:s={s}:r={r}:d={d}",
    "bars": "smptebars=s={s}:r={r}:d={d}",
    "ident": "color=c=0x103070:s={s}:r={r}:d={d},drawbox=x=iw/2-60:y=ih/2-30:w=120:h=60:color=yellow@1:t=fill",
    "ident2": "color=c=0x602010:s={s}:r={r}:d={d},drawbox=x=iw/2-40:y=ih/2-40:w=80:h=80:color=cyan@1:t=fill",
}

#: the jingles' notes (Hz), 0.25 s each
JINGLES = {"ident": [523, 659, 784, 1047, 784, 659, 880, 698, 587, 988, 523, 1175, 440, 1319, 392, 1568],
           "ident2": [330, 415, 494, 370, 554, 311, 622, 277, 740, 262, 831, 349, 932, 294, 466, 392]}


def jingle(kind: str = "ident", seconds: float = 4.0) -> np.ndarray:
    """The jingle of an ident part: notes of JINGLES[kind] with a few harmonics, ``seconds`` long."""
    notes = JINGLES[kind]
    n = int(0.25 * RATE)
    t = np.arange(n) / RATE
    env = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
    parts = [env * sum(np.sin(2 * np.pi * f * k * t) / k for k in (1, 2, 3)) for f in notes]
    x = np.tile(np.concatenate(parts), int(np.ceil(seconds / (0.25 * len(notes)))) + 1)
    return (0.25 * x[: int(seconds * RATE)]).astype(np.float32)


def _babble(seconds: float, seed: int) -> np.ndarray:
    """Noise shaped like speech: band-limited, with syllable-rate loudness and short pauses under 0.5 s."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    x = rng.standard_normal(n)
    x = np.convolve(x, np.ones(8) / 8, "same")  # a low-pass: speech's energy is low
    syll = np.repeat(rng.uniform(0.2, 1.0, n // 3200 + 1), 3200)[:n]
    return (0.3 * x * syll).astype(np.float32)


def _sound(kind: str, seconds: float, seed: int) -> np.ndarray:
    n = int(round(seconds * RATE))
    if kind in ("programme", "cut"):
        return _babble(seconds, seed)
    if kind == "bars":
        return (0.2 * np.sin(2 * np.pi * 1000 * np.arange(n) / RATE)).astype(np.float32)
    if kind in ("ident", "ident2"):
        return jingle(kind, seconds)
    return np.zeros(n, np.float32)  # black, quiet


def make_broadcast(path: Path, parts: Sequence[tuple[str, float]], seed: int = 0) -> dict[str, list[float]]:
    """Write ``parts`` end to end as one video with sound; return each kind's start times (seconds).

    Arguments:
        path: the file to write (.mp4).
        parts: (kind, seconds) in order; kinds as in the module docstring.
        seed: the babble's randomness.
    Returns:
        {kind: [start seconds, ...]} for every part, so tests know where each junction is.
    """
    path = Path(path)
    graph, labels, audio, starts = [], [], [], {}  # type: ignore[var-annotated]
    t = 0.0
    for i, (kind, secs) in enumerate(parts):
        src = _PICTURES[kind].format(s=SIZE, r=FPS, d=f"{secs:.3f}")
        graph.append(f"{src},format=yuv420p,setsar=1,trim=duration={secs:.3f},setpts=PTS-STARTPTS[v{i}]")
        labels.append(f"[v{i}]")
        audio.append(_sound(kind, secs, seed * 100 + i))
        starts.setdefault(kind, []).append(t)
        t += secs
    graph.append(f"{''.join(labels)}concat=n={len(parts)}:v=1:a=0[v]")
    wav = write_wav(path.with_suffix(".wav"), np.concatenate(audio), RATE)
    run_ffmpeg(["-filter_complex", ";".join(graph), "-i", str(wav), "-map", "[v]", "-map", "0:a", "-c:v", "libx264",
                "-preset", "ultrafast", "-crf", "23", "-g", "50", "-c:a", "aac", "-b:a", "96k", "-shortest",
                str(path)])
    wav.unlink()
    return starts
