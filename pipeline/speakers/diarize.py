"""Who speaks when: speech regions, voice embeddings per window, clustering into speakers, turns.

Speech is where Silero VAD hears it inside the audio profile's speech seconds. 1.6 s windows every 0.75 s are
embedded (``embed``, the costly half); speech runs are cut into segments of at most 3 s, each embedded by the mean
of its windows. The number of speakers is not given: segments are clustered bottom-up (average linkage on cosine
distance) until the closest two clusters are farther apart than ``threshold``; clusters whose centroids are still
very similar are merged, and a cluster with under ``min_speaker_s`` of speech joins its nearest (``assign``, the
cheap half). The parameters were tuned on one set of real speakers and reported on another (bench/speakers.py).
Runs of frames of one speaker become turns; speakers are named ``S1``, ``S2``, … in order of first appearance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from pipeline.media.audio import pcm_blocks
from pipeline.media.profile import SPEECH_LABELS, vad_probs
from pipeline.speakers.ge2e import volume_gain

SR = 16000
FRAME_S = 0.032  # Silero's chunk (512 samples)
STEP_S = 0.75  # window hop: a 1.6 s window every 0.75 s
MIN_REGION_S = 0.5  # shorter speech is labelled by its neighbours, never embedded alone
MAX_POINTS = 2500  # more windows than this are averaged in runs before clustering (memory: n² / 2 distances)
THRESHOLD = 0.25  # cosine distance at which clustering stops (bench/speakers.py tunes it)
MIN_SPEAKER_S = 4.0  # a cluster with less speech than this joins its nearest larger one
NEAREST_S = 3.0  # a speech frame farther than this from any embedded window gets no speaker
MERGE_SIM = 0.90  # clusters whose centroids are at least this similar are one voice (bench/speakers.py)


@dataclass
class Turn:
    start: float
    end: float
    speaker: str


@dataclass
class Voice:
    speaker: str
    seconds: float
    embedding: np.ndarray  # L2-normalised centroid


@dataclass
class Diarization:
    turns: list[Turn] = field(default_factory=list)
    voices: list[Voice] = field(default_factory=list)
    windows: int = 0
    speech_seconds: float = 0.0

    def speaker_at(self, start: float, end: float) -> str | None:
        """The speaker who talks most within [start, end) (the nearest turn for a zero-length span)."""
        return speaker_at(self.turns, start, end)


def speaker_at(turns: Sequence[Any], start: float, end: float) -> str | None:
    """The speaker with the most overlap with [start, end) among ``turns`` (objects or dicts with start/end/speaker).

    Arguments:
        turns: speaker turns, sorted or not.
        start, end: the span in seconds.

    Returns:
        The speaker label, or None when no turn overlaps the span (nor lies within 0.5 s of a zero-length span).
    """
    best, best_overlap = None, 0.0
    mid, end = (start + max(end, start)) / 2, max(end, start)
    nearest, gap = None, 0.5
    for t in turns:
        ts, te, sp = (t["start"], t["end"], t["speaker"]) if isinstance(t, dict) else (t.start, t.end, t.speaker)
        overlap = min(end, te) - max(start, ts)
        if overlap > best_overlap:
            best, best_overlap = sp, overlap
        d = 0.0 if ts <= mid <= te else min(abs(mid - ts), abs(mid - te))
        if d <= gap:  # a word or a zero-length span: the turn it lies in, or the nearest within 0.5 s
            nearest, gap = sp, d
    return best if best is not None else nearest


def speech_frames(samples: np.ndarray, profile: Any = None) -> np.ndarray:
    """One bool per 32 ms frame: speech by Silero VAD, inside the seconds the audio profile calls speech.

    Arguments:
        samples: 16 kHz mono float32 audio.
        profile: the video's AudioProfile (None: Silero alone).

    Returns:
        A bool array, True where someone speaks, with pauses under 0.3 s filled and blips under 0.2 s removed.
    """
    # In 30 s blocks, each copied: the job's samples are a read-only memory map (and an hour is not copied at once).
    block = 512 * 938
    probs = np.concatenate([vad_probs(y) for y in pcm_blocks(samples, block)] or [np.zeros(0, np.float32)])
    speech = probs >= 0.5
    if profile is not None and profile.labels:
        sec = np.array([lab in SPEECH_LABELS for lab in profile.labels] + [False])
        idx = np.minimum((np.arange(len(speech)) * FRAME_S).astype(int), len(sec) - 1)
        speech &= sec[idx]
    return _smooth(speech, fill=int(0.3 / FRAME_S), drop=int(0.2 / FRAME_S))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    if not len(mask):
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _smooth(mask: np.ndarray, fill: int, drop: int) -> np.ndarray:
    out = mask.copy()
    runs = _runs(out)
    for (_, e0), (s1, _) in zip(runs, runs[1:]):
        if s1 - e0 <= fill:
            out[e0:s1] = True
    for s, e in _runs(out):
        if e - s < drop:
            out[s:e] = False
    return out


def cluster(emb: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Agglomerative clustering (average linkage, cosine distance) stopped at ``threshold``.

    Arguments:
        emb: (n, d) L2-normalised embeddings.
        threshold: the largest cosine distance at which two clusters still merge.

    Returns:
        One integer label per row (0-based, arbitrary order).
    """
    n = len(emb)
    if n <= 1:
        return np.zeros(n, np.int64)
    # heavy (~0.7 s): only when there are windows to cluster; scipy ships no type information (no scipy-stubs)
    from scipy.cluster.hierarchy import fcluster, linkage  # type: ignore[import-untyped]
    from scipy.spatial.distance import pdist  # type: ignore[import-untyped]

    dist = np.clip(pdist(emb.astype(np.float64), "cosine"), 0.0, 2.0)
    return fcluster(linkage(dist, "average"), t=threshold, criterion="distance").astype(np.int64) - 1


def _windows(regions: list[tuple[int, int]], n_samples: int, window: int, step: int) -> list[tuple[int, int]]:
    """(region index, start sample) for 1.6 s windows every ``step`` inside each region long enough to embed."""
    out: list[tuple[int, int]] = []
    for r, (a, b) in enumerate(regions):
        if b - a < MIN_REGION_S * SR:
            continue
        last = max(a, b - window)
        starts = list(range(a, last + 1, step))
        if starts[-1] != last:  # the region's tail gets a window of its own
            starts.append(last)
        out.extend((r, s) for s in starts)
    return out


@dataclass
class Windows:
    """The embedding half of a diarisation: speech frames, regions, analysis windows and their embeddings."""

    speech: np.ndarray  # bool per 32 ms frame
    emb: np.ndarray  # (n, dim) per window
    centres: np.ndarray  # seconds, per window


def embed(samples: np.ndarray, encoder: Any, profile: Any = None, step_s: float = STEP_S) -> Windows:
    """Find speech and embed 1.6 s windows over it (the costly half of ``diarize``).

    Arguments:
        samples: 16 kHz mono float32 audio (a memory map is read region by region).
        encoder: a SpeakerEncoder.
        profile: the audio profile (its speech seconds bound the search for speech); None to use Silero alone.
        step_s: the hop between analysis windows.

    Returns:
        Windows (no windows when there is no speech long enough to embed).
    """
    speech = speech_frames(samples, profile)
    frame = int(FRAME_S * SR)
    regions = [(int(a) * frame, min(int(b) * frame, len(samples))) for a, b in _runs(speech)]
    window, step = int(encoder.window_s * SR), max(1, int(step_s * SR))
    wins = _windows(regions, len(samples), window, step)
    emb = np.zeros((len(wins), encoder.dim), np.float32)
    by_region: dict[int, list[int]] = {}
    for i, (r, _) in enumerate(wins):
        by_region.setdefault(r, []).append(i)
    # Each region is raised to -30 dBFS as a whole (the encoder's training condition). A region is handed over as a
    # view with its gain, never copied whole: an hour of unbroken speech is read in blocks. All regions go in one
    # call, so the encoder fills its network batches across them (most regions hold only a few windows).
    batch = []
    for r, idx in by_region.items():
        a, b = regions[r]
        batch.append((samples[a:b], np.array([wins[i][1] - a for i in idx]), volume_gain(samples[a:b])))
    for idx, rows in zip(by_region.values(), encoder.embed_regions(batch)):
        emb[idx] = rows
    centres = np.array([(s + min(window, regions[r][1] - s) / 2) / SR for r, s in wins], np.float64)
    return Windows(speech, emb, centres)


def assign(w: Windows, threshold: float = THRESHOLD, min_speaker_s: float = MIN_SPEAKER_S,
           merge_sim: float = MERGE_SIM, segment_s: float | None = None) -> Diarization:
    """Cluster the windows into speakers and turn speech frames into speaker turns (the cheap half of ``diarize``).

    Arguments:
        w: what ``embed`` found.
        threshold: the clustering's cosine-distance threshold.
        min_speaker_s: clusters with less speech than this are merged into the nearest larger one.
        merge_sim: after clustering the windows, clusters whose centroids are at least this similar are merged
            (a centroid averages many windows, so it tells voices apart better than single 1.6 s windows do).
        segment_s: the longest piece of speech embedded as one unit (default SEGMENT_S).

    Returns:
        A Diarization; empty (no turns, no voices) when there were no windows.
    """
    speech, emb, centres = w.speech, w.emb, w.centres
    out = Diarization(speech_seconds=float(speech.sum() * FRAME_S))
    if not len(emb):
        return out
    # Segments: speech runs cut into pieces of at most SEGMENT_S; each is embedded by the mean of the windows centred
    # in it (a single 1.6 s window varies too much with what is said to be clustered alone), then clustered.
    segs = _segments(speech, segment_s or SEGMENT_S)
    seg_emb = np.zeros((len(segs), emb.shape[1]), np.float32)
    order = np.argsort(centres)
    c_sorted = centres[order]
    for i, (a, b) in enumerate(segs):
        t0, t1 = a * FRAME_S, b * FRAME_S
        lo, hi = np.searchsorted(c_sorted, t0 - 0.2), np.searchsorted(c_sorted, t1 + 0.2)
        if hi > lo:
            v = emb[order[lo:hi]].mean(axis=0)
        else:  # a segment shorter than any window: the nearest window speaks for it, if one is near
            j = int(np.argmin(np.abs(c_sorted - (t0 + t1) / 2)))
            v = emb[order[j]] if abs(c_sorted[j] - (t0 + t1) / 2) <= NEAREST_S else np.zeros(emb.shape[1], np.float32)
        seg_emb[i] = v / max(float(np.linalg.norm(v)), 1e-9)
    known = np.flatnonzero(np.linalg.norm(seg_emb, axis=1) > 0.5)
    frame_label = np.full(len(speech), -1, np.int64)
    if not len(known):
        return out
    emb = seg_emb[known]
    labels = _merge_close(emb, _cluster_many(emb, threshold), merge_sim)
    for lab, k in zip(labels, known):
        a, b = segs[k]
        frame_label[a:b] = lab
    labels, frame_label = _absorb_small(emb, labels, frame_label, min_speaker_s)
    # Name speakers S1, S2, … by first appearance.
    names: dict[int, str] = {}
    for lab in frame_label[frame_label >= 0]:
        if int(lab) not in names:
            names[int(lab)] = f"S{len(names) + 1}"
    turns: list[Turn] = []
    for lab, name in names.items():
        for a, b in _runs(frame_label == lab):
            turns.append(Turn(round(float(a) * FRAME_S, 3), round(float(b) * FRAME_S, 3), name))
    turns.sort(key=lambda x: x.start)
    voices = []
    for lab, name in names.items():
        c = emb[labels == lab].mean(axis=0)
        voices.append(Voice(name, round(float((frame_label == lab).sum() * FRAME_S), 3),
                            (c / max(np.linalg.norm(c), 1e-9)).astype(np.float32)))
    out.turns, out.voices, out.windows = turns, voices, len(w.emb)
    return out


def diarize(samples: np.ndarray, encoder: Any, profile: Any = None, threshold: float = THRESHOLD,
            step_s: float = STEP_S, min_speaker_s: float = MIN_SPEAKER_S, merge_sim: float = MERGE_SIM) -> Diarization:
    """Speaker turns and one voice per speaker for a recording: ``assign(embed(...))``.

    Arguments:
        samples: 16 kHz mono float32 audio.
        encoder: a SpeakerEncoder.
        profile: the audio profile; None to use Silero alone.
        threshold: the clustering's cosine-distance threshold.
        step_s: the hop between analysis windows.
        min_speaker_s: clusters with less speech than this are merged into the nearest larger one.
        merge_sim: clusters whose centroids are at least this similar are one voice.

    Returns:
        A Diarization; empty (no turns, no voices) for silence, music only or too little speech.
    """
    return assign(embed(samples, encoder, profile, step_s), threshold, min_speaker_s, merge_sim)


def _cluster_many(emb: np.ndarray, threshold: float) -> np.ndarray:
    """``cluster`` for any number of windows: past MAX_POINTS, consecutive windows are averaged first."""
    n = len(emb)
    if n <= MAX_POINTS:
        return cluster(emb, threshold)
    k = int(np.ceil(n / MAX_POINTS))
    groups = np.arange(n) // k
    pooled = np.stack([emb[groups == g].mean(axis=0) for g in range(groups.max() + 1)])
    pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-9)
    return cluster(pooled, threshold)[groups]


SEGMENT_S = 3.0  # the longest piece of speech embedded as one unit (a voice change inside one goes unseen)


def _segments(speech: np.ndarray, segment_s: float) -> list[tuple[int, int]]:
    """Speech runs (frame indices) cut into near-equal pieces of at most ``segment_s``."""
    most = int(segment_s / FRAME_S)
    out: list[tuple[int, int]] = []
    for a, b in _runs(speech):
        n = max(1, int(np.ceil((b - a) / most)))
        edges = np.linspace(a, b, n + 1).round().astype(int)
        out.extend((int(x), int(y)) for x, y in zip(edges[:-1], edges[1:]) if y > x)
    return out


def _merge_close(emb: np.ndarray, labels: np.ndarray, merge_sim: float) -> np.ndarray:
    """Merge the two clusters with the most similar centroids while that similarity is at least ``merge_sim``."""
    labels = labels.copy()
    while True:
        ids = [int(x) for x in np.unique(labels)]
        if len(ids) < 2:
            return labels
        cent = np.stack([emb[labels == i].mean(axis=0) for i in ids])
        cent /= np.maximum(np.linalg.norm(cent, axis=1, keepdims=True), 1e-9)
        sim = cent @ cent.T
        np.fill_diagonal(sim, -1)
        a, b = np.unravel_index(int(sim.argmax()), sim.shape)
        if sim[a, b] < merge_sim:
            return labels
        labels[labels == ids[b]] = ids[a]


def _absorb_small(emb: np.ndarray, labels: np.ndarray, frame_label: np.ndarray,
                  min_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Merge clusters with under ``min_s`` seconds of speech into the nearest cluster that has more."""
    ids = [int(x) for x in np.unique(labels)]
    seconds = {i: float((frame_label == i).sum() * FRAME_S) for i in ids}
    big = [i for i in ids if seconds[i] >= min_s]
    if not big or len(big) == len(ids):
        return labels, frame_label
    cent = {i: emb[labels == i].mean(axis=0) for i in ids}
    labels, frame_label = labels.copy(), frame_label.copy()
    for i in ids:
        if i in big:
            continue
        j = max(big, key=lambda b: float(cent[i] @ cent[b]) / (np.linalg.norm(cent[i]) * np.linalg.norm(cent[b]) + 1e-9))
        labels[labels == i] = j
        frame_label[frame_label == i] = j
    return labels, frame_label
