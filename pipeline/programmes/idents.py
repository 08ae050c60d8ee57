"""Station idents and programme jingles: marked once by the user, found again by their audio fingerprint.

An ident is the Chromaprint fingerprint of a few seconds of audio (the same raw items :mod:`pipeline.copies.fingerprint`
computes for copy detection: fpcalc, or the chromaprint muxer of clipwatch's ffmpeg). To find it in a recording, the
recording's own fingerprint is compared with the ident's at every item offset (one item is ~0.124 s): the bit error
rate (BER) of the aligned items is ~0.5 for unrelated audio and well under ``MAX_BER`` where the ident plays, even
re-encoded or off the item grid by half an item. Copy detection's index votes on exact items to find long excerpts
among thousands of videos; here one short, known clip is slid over one recording, which the exhaustive comparison does
exactly (items x ident length popcounts: ~30 M for an hour and a 5 s ident, a fraction of a second).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.copies.fingerprint import ITEM_SECONDS, AudioFingerprint, fingerprint_pcm
from pipeline.errors import MediaError
from pipeline.media.audio import SAMPLE_RATE, load_audio
from pipeline.programmes.cues import Cue

#: a match: mean BER of the aligned items under this (unrelated audio ~0.5)
MAX_BER = 0.30
#: an ident needs this many distinct sounding items (a steady tone or silence proves nothing)
MIN_DISTINCT = 8
#: Chromaprint's first item needs ~2.6 s of audio: a shorter ident has too few items to be told from chance
MIN_SECONDS = 3.0
MAX_SECONDS = 60.0


@dataclass
class Ident:
    """A marked ident: its name, channel and fingerprint (``duration`` seconds)."""

    name: str
    channel: str
    fingerprint: bytes  # AudioFingerprint.to_bytes(): little-endian uint32 items, silent items as 0
    duration: float
    id: int | None = None

    @property
    def items(self) -> np.ndarray:
        return np.frombuffer(self.fingerprint, "<u4").astype(np.uint32)


def ident_from_pcm(samples: np.ndarray, rate: int, name: str, channel: str) -> Ident:
    """Fingerprint a clip of mono PCM as an ident; MediaError when it is too short, too long or too plain to find."""
    seconds = len(samples) / rate
    if seconds < MIN_SECONDS or seconds > MAX_SECONDS:
        raise MediaError(f"an ident must be {MIN_SECONDS:g}-{MAX_SECONDS:g} s long (this one is {seconds:.1f} s): "
                         "give --start and --end around the jingle")
    fp = fingerprint_pcm(samples, rate)
    distinct = len(set(fp.items[fp.valid].tolist()))
    if distinct < MIN_DISTINCT:
        raise MediaError(f"the clip from which ident {name!r} would be made is silent, one steady sound or too short "
                         f"({distinct} distinct fingerprint items): mark the part where the jingle plays, 3 s or more")
    return Ident(name, channel, fp.to_bytes(), seconds)


def ident_from_file(path: Path, start: float, end: float, name: str, channel: str) -> Ident:
    """The ident heard in ``path`` between ``start`` and ``end`` seconds.

    Arguments:
        path: a media file with audio.
        start, end: seconds into the file.
        name: what the user calls it (shown as evidence).
        channel: the channel it belongs to.
    Returns:
        the :class:`Ident`, ready to store.
    """
    if end <= start:
        raise MediaError(f"--end ({end:g}) must be after --start ({start:g})")
    samples = load_audio(Path(path), start, end - start)
    if len(samples) < (end - start - 0.5) * SAMPLE_RATE:
        raise MediaError(f"{Path(path).name} ends before {end:g} s: give an --end inside the file")
    return ident_from_pcm(samples, SAMPLE_RATE, name, channel)


def _popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x).astype(np.int32)


def ber_curve(stream: np.ndarray, ident: np.ndarray) -> np.ndarray:
    """Mean bit error rate of ``ident`` laid at each item offset of ``stream`` (len(stream) - len(ident) + 1)."""
    n, m = len(stream), len(ident)
    if m == 0 or n < m:
        return np.zeros(0)
    width = n - m + 1
    errors = np.zeros(width, np.int64)
    for j in range(m):
        errors += _popcount(np.bitwise_xor(stream[j:j + width], ident[j]))
    return errors / (32.0 * m)


def find_ident(stream: AudioFingerprint, ident: Ident, max_ber: float = MAX_BER) -> list[Cue]:
    """Where ``ident`` plays in a recording's fingerprint: one cue per match (seconds from the recording's start)."""
    items = ident.items
    curve = ber_curve(stream.items, items)
    if not len(curve):
        return []
    m = len(items)
    # a silent stretch of the recording is no match, whatever its items say
    sounding = np.convolve(stream.valid.astype(np.int32), np.ones(m, np.int32), "valid") >= m // 2
    ok = (curve < max_ber) & sounding[: len(curve)]
    out: list[Cue] = []
    order = np.argsort(curve)
    taken = np.zeros(len(curve), bool)
    for k in order:  # best offsets first, one match per ident length
        if not ok[k]:
            break
        if taken[k]:
            continue
        taken[max(0, k - m):k + m] = True
        ber = float(curve[k])
        start = float(k * ITEM_SECONDS)
        out.append(Cue("ident", start, start + ident.duration, min(1.0, (0.5 - ber) / 0.3),
                       {"ident": ident.name, "ber": round(ber, 3)}))
    return sorted(out, key=lambda c: c.start)


def ident_cues(samples: np.ndarray, rate: int, idents: list[Ident]) -> list[Cue]:
    """Every match of every ident in mono PCM (seconds from its start)."""
    if not idents or len(samples) < rate * MIN_SECONDS:
        return []
    fp = fingerprint_pcm(samples, rate)
    out: list[Cue] = []
    for ident in idents:
        out += find_ident(fp, ident)
    return out
