"""Re-upload matching: keyframe hashes, a multi-index hash table, and ranking.

A video's fingerprint is its keyframes' 64-bit pHashes (with their times and
shot bounds). To find where a query video came from:

1. every query keyframe is looked up in a ``HashIndex`` for stored keyframes
   within Hamming distance ``max_distance`` (8 by default), once with its own
   hash and once with the hash of its mirror image (a flipped re-upload);
2. per archived video, the time offset between query and archive is the most
   common difference between matched shot boundaries (or keyframe times);
3. a query keyframe counts as matched when its time, shifted by that offset,
   falls inside the matched archived keyframe's shot; the score is the share
   of the query's keyframes that matched, and runs of matched keyframes give
   the aligned time ranges.

The index is multi-index hashing: the 64 bits are split into four 16-bit
bands; two hashes within distance 8 agree within 2 bits on at least one band
(pigeonhole), so a query probes the 137 band values within 2 bits of each of
its four bands, and only those few candidates get a full Hamming check. One
lookup over a million stored hashes takes about a millisecond (bench/matching.py).

Everything here works on plain values: rows ``(video_id, time, phash[,
shot_start, shot_end])`` as stored in SQLite (signed or unsigned 64-bit) go
in, ``Match`` dataclasses come out.
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from pipeline.shots.keyframes import extract_keyframes
from pipeline.shots.phash import popcount64

MAX_DISTANCE = 8
BANDS = 4
BAND_BITS = 16
_MASK64 = 0xFFFFFFFFFFFFFFFF


@dataclass(frozen=True)
class QueryFrame:
    """One keyframe of a fingerprint."""

    time: float
    phash: int
    phash_mirror: int = 0
    shot_start: float | None = None
    shot_end: float | None = None
    alt: tuple[int, ...] = ()  # extra query hashes (other crops), plain
    alt_mirror: tuple[int, ...] = ()  # and mirrored


@dataclass
class Match:
    video_id: Any
    score: float  # aligned / total: share of the query's keyframes found, in order, in this video
    matched: int  # query keyframes with at least one stored keyframe within the distance
    total: int  # query keyframes that can be matched (non-flat)
    offset: float  # archived time = query time + offset (seconds)
    ranges: list[tuple[float, float, float, float]] = field(default_factory=list)  # (q_start, q_end, a_start, a_end)
    aligned: int = 0  # matched keyframes consistent with the offset
    mirrored: bool = False  # matched through the mirror-image hash
    mean_distance: float = 0.0
    coverage: float = 0.0  # share of the archived video's keyframes matched
    stored: int = 0  # the archived video's keyframes (non-flat) in the index


def _u64(h: int) -> int:
    return int(h) & _MASK64


def _row_values(row: Any) -> tuple[Any, float, int, float | None, float | None]:
    """(video_id, time, phash[, shot_start, shot_end]) from a tuple, sqlite3.Row or object."""
    if hasattr(row, "keys") and "phash" in row.keys():  # sqlite3.Row / mapping
        get = (lambda k: row[k] if k in row.keys() else None)
        return row["video_id"], float(row["time"]), _u64(row["phash"]), get("shot_start"), get("shot_end")
    if hasattr(row, "phash") and hasattr(row, "video_id"):
        return (row.video_id, float(row.time), _u64(row.phash), getattr(row, "shot_start", None),
                getattr(row, "shot_end", None))
    vals = tuple(row)
    if len(vals) == 3:
        return vals[0], float(vals[1]), _u64(vals[2]), None, None
    if len(vals) == 5:
        return vals[0], float(vals[1]), _u64(vals[2]), vals[3], vals[4]
    raise ValueError("index rows are (video_id, time, phash) or (video_id, time, phash, shot_start, shot_end)")


def band_probes(radius: int) -> np.ndarray:
    """All 16-bit masks with at most ``radius`` bits set."""
    masks = [0]
    for r in range(1, radius + 1):
        for bits in itertools.combinations(range(BAND_BITS), r):
            masks.append(sum(1 << b for b in bits))
    return np.array(masks, dtype=np.uint32)


class HashIndex:
    """Multi-index hash table over 64-bit keyframe hashes (4 bands x 16 bits).

    Build it from rows ``(video_id, time, phash[, shot_start, shot_end])``;
    flat-picture hashes (0) are skipped. ``add`` appends more rows; the band
    tables are rebuilt lazily on the next lookup.
    """

    def __init__(self, rows: Iterable[Any] = (), max_distance: int = MAX_DISTANCE):
        self.max_distance = max_distance
        self._video_ids: list[Any] = []
        self._vid_of: dict[Any, int] = {}
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._built = False
        self._probes = band_probes(max_distance // BANDS)
        self.add(rows)

    # -- building -------------------------------------------------------
    def add(self, rows: Iterable[Any]) -> None:
        vids, times, hashes, s0, s1 = [], [], [], [], []
        for row in rows:
            vid, t, h, ss, se = _row_values(row)
            if h == 0:
                continue
            if vid not in self._vid_of:
                self._vid_of[vid] = len(self._video_ids)
                self._video_ids.append(vid)
            vids.append(self._vid_of[vid])
            times.append(t)
            hashes.append(h)
            s0.append(np.nan if ss is None else float(ss))
            s1.append(np.nan if se is None else float(se))
        if hashes:
            self._chunks.append((np.array(vids, np.int32), np.array(times, np.float64), np.array(hashes, np.uint64),
                                 np.array(s0, np.float64), np.array(s1, np.float64)))
            self._built = False

    @classmethod
    def from_arrays(cls, video_idx: np.ndarray, times: np.ndarray, hashes: np.ndarray,
                    video_ids: Sequence[Any] | None = None, max_distance: int = MAX_DISTANCE) -> "HashIndex":
        """Fast path for large synthetic or bulk-loaded sets (benchmarks)."""
        idx = cls(max_distance=max_distance)
        n_videos = int(video_idx.max()) + 1 if len(video_idx) else 0
        idx._video_ids = list(video_ids) if video_ids is not None else list(range(n_videos))
        idx._vid_of = {v: i for i, v in enumerate(idx._video_ids)}
        keep = hashes != 0
        nan = np.full(int(keep.sum()), np.nan)
        idx._chunks = [(video_idx[keep].astype(np.int32), times[keep].astype(np.float64),
                        hashes[keep].astype(np.uint64), nan, nan.copy())]
        return idx

    def _build(self) -> None:
        if self._built:
            return
        if self._chunks:
            cols = [np.concatenate([c[i] for c in self._chunks]) for i in range(5)]
            self._chunks = [tuple(cols)]  # type: ignore[list-item]
        else:
            cols = [np.zeros(0, np.int32), np.zeros(0), np.zeros(0, np.uint64), np.zeros(0), np.zeros(0)]
        self.vid, self.time, self.hash, self.shot_start, self.shot_end = cols
        self._order: list[np.ndarray] = []
        self._starts: list[np.ndarray] = []
        for b in range(BANDS):
            band = ((self.hash >> np.uint64(b * BAND_BITS)) & np.uint64(0xFFFF)).astype(np.int64)
            order = np.argsort(band, kind="stable").astype(np.int64)
            counts = np.bincount(band, minlength=1 << BAND_BITS)
            starts = np.zeros((1 << BAND_BITS) + 1, np.int64)
            np.cumsum(counts, out=starts[1:])
            self._order.append(order)
            self._starts.append(starts)
        self.per_video = np.bincount(self.vid, minlength=len(self._video_ids)) if len(self.vid) else np.zeros(0, int)
        self._built = True

    def __len__(self) -> int:
        return sum(len(c[2]) for c in self._chunks)

    @property
    def video_ids(self) -> list[Any]:
        return list(self._video_ids)

    # -- lookup ---------------------------------------------------------
    def lookup(self, phash: int, max_distance: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Positions of stored hashes within ``max_distance`` of ``phash``, and their distances."""
        self._build()
        d = self.max_distance if max_distance is None else max_distance
        h = _u64(phash)
        if h == 0 or len(self.hash) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        probes = self._probes if d // BANDS == self.max_distance // BANDS else band_probes(d // BANDS)
        found = []
        for b in range(BANDS):
            q = (h >> (b * BAND_BITS)) & 0xFFFF
            keys = (probes ^ q).astype(np.int64)
            lo = self._starts[b][keys]
            hi = self._starts[b][keys + 1]
            n = hi - lo
            nz = n > 0
            if not nz.any():
                continue
            lo, n = lo[nz], n[nz]
            # concatenate the ranges [lo, lo+n) without a Python loop
            total = int(n.sum())
            offs = np.repeat(lo - np.concatenate(([0], np.cumsum(n)[:-1])), n) + np.arange(total)
            found.append(self._order[b][offs])
        if not found:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        # distance first, de-duplicate after: most candidates fail the check, and np.unique over all of
        # them (tens of thousands at 10^6+ stored hashes) cost more than the popcounts
        cand = np.concatenate(found)
        dist = popcount64(self.hash[cand] ^ np.uint64(h)).astype(np.int64)
        ok = dist <= d
        cand, first = np.unique(cand[ok], return_index=True)
        return cand, dist[ok][first]

    def video_id(self, vidx: int) -> Any:
        return self._video_ids[vidx]


def query_frames(query: Iterable[Any]) -> list[QueryFrame]:
    """The query's frames as QueryFrame records, whatever form (records or tuples) they came in."""
    out = []
    for q in query:
        if isinstance(q, QueryFrame):
            out.append(q)
        elif hasattr(q, "phash"):
            out.append(QueryFrame(float(q.time), _u64(q.phash), _u64(getattr(q, "phash_mirror", 0) or 0),
                                  getattr(q, "shot_start", None), getattr(q, "shot_end", None),
                                  tuple(getattr(q, "phash_alt", ()) or ()), tuple(getattr(q, "phash_alt_mirror", ()) or ())))
        else:
            vals = tuple(q)
            out.append(QueryFrame(float(vals[0]), _u64(vals[1]), _u64(vals[2]) if len(vals) > 2 else 0,
                                  *(vals[3:5] if len(vals) >= 5 else (None, None))))
    return out


def match_keyframes(query: Iterable[Any], index: HashIndex, *, max_distance: int = MAX_DISTANCE,
                    min_score: float = 0.0, min_aligned: int = 1, exclude: Iterable[Any] = (),
                    mirror: bool = True, limit: int | None = 20) -> list[Match]:
    """Rank archived videos by the share of ``query`` keyframes found in them, in time order.

    ``query`` items are ``QueryFrame``s, ``Keyframe``s, or tuples ``(time,
    phash[, phash_mirror[, shot_start, shot_end]])``. ``exclude`` drops video
    ids (the query video itself, for "similar to this archived video").
    """
    frames = [q for q in query_frames(query) if q.phash != 0]
    total = len(frames)
    if total == 0:
        return []
    index._build()
    excluded = set(exclude)
    # pairs per archived video: (query i, stored position, distance, mirrored?)
    pairs: dict[int, list[tuple[int, int, int, bool]]] = {}
    for qi, q in enumerate(frames):
        variants = {q.phash: False}
        for h in q.alt:
            variants.setdefault(h, False)
        if mirror:
            for h in (q.phash_mirror, *q.alt_mirror):
                variants.setdefault(h, True)
        variants.pop(0, None)
        best: dict[int, tuple[int, bool]] = {}  # stored position -> (distance, mirrored)
        for h, mir in variants.items():
            pos, dist = index.lookup(h, max_distance)
            for p, d in zip(pos.tolist(), dist.tolist()):
                if p not in best or d < best[p][0]:
                    best[p] = (d, mir)
        for p, (d, mir) in best.items():
            pairs.setdefault(int(index.vid[p]), []).append((qi, p, d, mir))
    results: list[Match] = []
    for vidx, plist in pairs.items():
        video_id = index.video_id(vidx)
        if video_id in excluded:
            continue
        m = _score_video(frames, index, vidx, plist, total)
        if m.score >= min_score and m.aligned >= min_aligned:
            results.append(m)
    results.sort(key=lambda m: (-m.score, -m.aligned, m.mean_distance))
    return results[:limit] if limit else results


def _score_video(frames: list[QueryFrame], index: HashIndex, vidx: int,
                 plist: list[tuple[int, int, int, bool]], total: int) -> Match:
    matched_q = {qi for qi, _, _, _ in plist}
    n_mirror = len({qi for qi, _, _, mir in plist if mir})
    n_plain = len({qi for qi, _, _, mir in plist if not mir})
    mirrored = n_mirror > n_plain
    use = [p for p in plist if p[3] == mirrored]

    # offset candidates: matched shot boundaries (precise), else keyframe times
    offs = []
    for qi, p, _, _ in use:
        q = frames[qi]
        a0, a1 = index.shot_start[p], index.shot_end[p]
        if q.shot_start is not None and not np.isnan(a0):
            offs.append(a0 - q.shot_start)
        if q.shot_end is not None and not np.isnan(a1):
            offs.append(a1 - q.shot_end)
        offs.append(index.time[p] - q.time)
    arr = np.sort(np.array(offs))
    tol = 0.25
    support = np.searchsorted(arr, arr + tol, "right") - np.searchsorted(arr, arr - tol, "left")
    best = int(np.argmax(support))
    win = arr[(arr >= arr[best] - tol) & (arr <= arr[best] + tol)]
    offset = float(np.median(win))

    aligned: dict[int, tuple[int, int]] = {}  # qi -> (stored position, distance)
    for qi, p, d, _ in use:
        q = frames[qi]
        t = q.time + offset
        a0, a1 = index.shot_start[p], index.shot_end[p]
        if np.isnan(a0) or np.isnan(a1):
            a0 = a1 = index.time[p]
        ok = a0 - 1.0 <= t <= a1 + 1.0 or abs(index.time[p] - t) <= 1.0
        if ok and (qi not in aligned or d < aligned[qi][1]):
            aligned[qi] = (p, d)

    ranges: list[tuple[float, float, float, float]] = []
    run: list[int] = []
    for qi in range(len(frames) + 1):
        if qi < len(frames) and qi in aligned:
            run.append(qi)
            continue
        if run:
            f0, f1 = frames[run[0]], frames[run[-1]]
            qs = f0.shot_start if f0.shot_start is not None else f0.time
            qe = f1.shot_end if f1.shot_end is not None else f1.time
            ranges.append((round(qs, 3), round(qe, 3), round(max(0.0, qs + offset), 3), round(qe + offset, 3)))
            run = []
    stored = int(index.per_video[vidx]) if vidx < len(index.per_video) else 0
    n_al = len(aligned)
    return Match(
        video_id=index.video_id(vidx),
        score=round(n_al / total, 4),
        matched=len(matched_q),
        total=total,
        offset=round(offset, 3),
        ranges=ranges,
        aligned=n_al,
        mirrored=mirrored,
        mean_distance=round(float(np.mean([d for _, d in aligned.values()])), 2) if aligned else float(MAX_DISTANCE + 1),
        coverage=round(len({p for p, _ in aligned.values()}) / stored, 4) if stored else 0.0,
        stored=stored,
    )


# -- fingerprints from files --------------------------------------------------
def fingerprint_result(result: Any) -> list[QueryFrame]:
    """QueryFrames from a ``KeyframeResult`` (or any list of Keyframe-like objects)."""
    kfs = getattr(result, "keyframes", result)
    return [QueryFrame(k.time, _u64(k.phash), _u64(getattr(k, "phash_mirror", 0) or 0), k.shot_start, k.shot_end,
                       tuple(getattr(k, "phash_alt", ()) or ()), tuple(getattr(k, "phash_alt_mirror", ()) or ()))
            for k in kfs]


def index_rows(video_id: Any, result: Any) -> list[tuple[Any, float, int, float, float]]:
    """Rows for ``HashIndex`` from a ``KeyframeResult``: (video_id, time, phash, shot_start, shot_end)."""
    kfs = getattr(result, "keyframes", result)
    return [(video_id, k.time, _u64(k.phash), k.shot_start, k.shot_end) for k in kfs]


def fingerprint_file(path: Path, **kwargs: Any) -> list[QueryFrame]:
    """Run ``extract_keyframes`` into a temporary folder and return the fingerprint.

    Each item unpacks like ``(time, phash, ...)`` via its attributes; the list
    can be passed straight to ``match_keyframes``.
    """

    with tempfile.TemporaryDirectory(prefix="clipwatch-fp-") as tmp:
        result = extract_keyframes(Path(path), Path(tmp), **kwargs)
    return fingerprint_result(result)


def match_video(query: Path | Iterable[Any], index: HashIndex, **kwargs: Any) -> list[Match]:
    """Match a video file (fingerprinted here) or a ready fingerprint against ``index``."""
    if isinstance(query, (str, Path)):
        query = fingerprint_file(Path(query))
    return match_keyframes(query, index, **kwargs)
