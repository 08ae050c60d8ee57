"""The copies index: the archive's keyframe hashes and audio fingerprints, kept on disk and updated per video.

Matching one new video used to load every archived keyframe hash and fingerprint into memory first (issue 19
item 4: fine for a demo, not for 100,000 videos). This index keeps them in a folder beside the catalogue
(``<data dir>/copyindex``), memory-mapped, so a match reads only what its lookups touch:

- keyframes: multi-index hashing as ``matching.HashIndex`` does it (four 16-bit bands; a hash within distance 8
  agrees within 2 bits on one band), with each band's sort order and bucket starts stored;
- audio: an inverted index of Chromaprint items (item -> archived video, position), sorted by item, plus each
  video's items for verification.

A match finds the *candidate* videos here (any keyframe within the distance; any offset with enough audio votes),
then runs the very matcher of ``copies.CopyFinder`` on those videos only. What depends on the whole archive — which
items are stop words (``fingerprint.STOP_POSTINGS``) and which are recurring material (jingles, idents:
``fingerprint.RECURRING_VIDEOS``) — is computed here over the whole archive and handed to it, so the links are the
ones brute force over everything finds (tests/copies/test_index.py checks that).

Updates are a log-structured merge: each added batch of videos is a new immutable *segment* (a folder of ``.npy``
files, written to a temporary name, fsynced, renamed); a replaced or deleted video is marked dead in the manifest;
segments of similar size are merged, and dead entries dropped, in the background of the next update. The manifest
(``manifest.json``) is replaced atomically last, so a crash leaves the old index or the new one, never a mixture;
segments no manifest names are swept. A missing or damaged index raises ``CopyIndexError``; ``clipwatch copies-index
--rebuild`` (or the copies stage, on its own) rebuilds it from the catalogue, which stays the authority.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from pipeline.copies import fingerprint as fpmod
from pipeline.copies.copies import (
    MIN_KEYFRAMES_SHORT,
    MIN_SHARE,
    CopyLink,
    VideoFacts,
    decide_links,
    distinct_pictures,
    keyframes_needed,
)
from pipeline.copies.fingerprint import AudioIndex
from pipeline.copies.matching import (
    BAND_BITS,
    BANDS,
    MAX_DISTANCE,
    HashIndex,
    band_probes,
    match_keyframes,
    query_frames,
)
from pipeline.errors import ClipwatchError
from pipeline.storage.files import atomic_write, atomic_write_json

log = logging.getLogger(__name__)

FOLDER = "copyindex"
FORMAT = 2  # 2: bands kept as sorted 16-bit values (1 had tables of bucket starts)
MANIFEST = "manifest.json"
#: a segment is merged into the one before it once it reaches this share of it (log-structured merge: O(log n)
#: segments, each entry rewritten O(log n) times)
MERGE_RATIO = 0.25
#: dead entries (replaced or deleted videos) above this share of all postings: compact everything
DEAD_SHARE = 0.2
_KF = ("kf_vid", "kf_time", "kf_hash", "kf_s0", "kf_s1")
_DTYPES = {"videos": np.int32, "kf_vstart": np.int64, "kf_vid": np.int32, "kf_time": np.float64, "kf_hash": np.uint64,
           "kf_s0": np.float64, "kf_s1": np.float64, "au_vstart": np.int64, "au_items": np.uint32,
           "au_keys": np.uint32, "au_vid": np.int32, "au_pos": np.int32,
           **{f"kf_order{b}": np.int32 for b in range(BANDS)}, **{f"kf_band{b}": np.uint16 for b in range(BANDS)}}


class CopyIndexError(ClipwatchError):
    """The copies index is missing or damaged."""


@dataclass
class Entry:
    """One video as the index holds it.

    ``keyframes``: (time, phash unsigned, shot_start, shot_end) rows (flat pictures, hash 0, are dropped);
    ``items``: its audio fingerprint's items (silent items 0), or None."""

    video_id: str
    channel: str | None = None
    keyframes: Sequence[tuple[float, int, float | None, float | None]] = ()
    items: np.ndarray | None = None


def index_dir(store: Any) -> Path:
    """Where the copies index of this catalogue lives: ``copyindex`` in the archive's data folder."""
    data_dir = getattr(store, "data_dir", None)
    if data_dir is None:
        raise CopyIndexError("this catalogue names no archive folder for the copies index; pass --data-dir")
    return Path(data_dir) / FOLDER


# -- segments -------------------------------------------------------------------
class Segment:
    """One immutable, memory-mapped batch of videos."""

    def __init__(self, path: Path):
        self.path = path
        try:
            meta = json.loads((path / "meta.json").read_text())
            self.a = {name: np.load(path / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in _DTYPES}
        except (OSError, ValueError) as exc:
            raise CopyIndexError(f"copies index segment {path.name} cannot be read ({exc}); "
                                 "run `clipwatch copies-index --rebuild`") from exc
        nv, nk, na, npost = meta["videos"], meta["keyframes"], meta["items"], meta["postings"]
        want = {"videos": nv, "kf_vstart": nv + 1, "au_vstart": nv + 1, "au_items": na, "au_keys": npost,
                "au_vid": npost, "au_pos": npost, **{k: nk for k in _KF},
                **{f"kf_order{b}": nk for b in range(BANDS)}, **{f"kf_band{b}": nk for b in range(BANDS)}}
        for name, n in want.items():
            arr = self.a[name]
            if arr.shape != (n,) or arr.dtype != np.dtype(_DTYPES[name]):
                raise CopyIndexError(f"copies index segment {path.name}: {name} is {arr.dtype}{arr.shape}, expected "
                                     f"{np.dtype(_DTYPES[name])}({n},); run `clipwatch copies-index --rebuild`")
        self.n_videos, self.n_postings = nv, npost

    def local(self, gnum: int) -> int:
        """Where video ``gnum`` is in this segment (index numbers rise within a segment)."""
        i = int(np.searchsorted(self.a["videos"], gnum))
        if i >= self.n_videos or int(self.a["videos"][i]) != gnum:
            raise KeyError(gnum)
        return i

    def keyframes_of(self, gnum: int) -> tuple[np.ndarray, ...]:
        i = self.local(gnum)
        lo, hi = int(self.a["kf_vstart"][i]), int(self.a["kf_vstart"][i + 1])
        return tuple(np.asarray(self.a[k][lo:hi]) for k in ("kf_time", "kf_hash", "kf_s0", "kf_s1"))

    def items_of(self, gnum: int) -> np.ndarray:
        i = self.local(gnum)
        return np.array(self.a["au_items"][int(self.a["au_vstart"][i]):int(self.a["au_vstart"][i + 1])])


def _ranges(lo: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The positions [lo, lo+n) of every range, concatenated (no Python loop)."""
    total = int(n.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    return np.repeat(lo - np.concatenate(([0], np.cumsum(n)[:-1])), n) + np.arange(total)


def write_segment(path: Path, gnums: np.ndarray, kf_counts: np.ndarray, kf: Mapping[str, np.ndarray],
                  au_counts: np.ndarray, au_items: np.ndarray) -> None:
    """Write a segment folder atomically (temporary folder, fsync each file, rename).

    Arguments: gnums — the videos' index numbers; kf_counts / au_counts — keyframes and audio items per video;
        kf — ``kf_time``, ``kf_hash`` (uint64, non-zero), ``kf_s0``, ``kf_s1`` in video order; au_items — uint32.
    """
    gnums = np.asarray(gnums, np.int32)
    nv = len(gnums)
    kf_vstart = np.zeros(nv + 1, np.int64)
    np.cumsum(kf_counts, out=kf_vstart[1:])
    au_vstart = np.zeros(nv + 1, np.int64)
    np.cumsum(au_counts, out=au_vstart[1:])
    hashes = np.asarray(kf["kf_hash"], np.uint64)
    arrays: dict[str, np.ndarray] = {
        "videos": gnums, "kf_vstart": kf_vstart, "kf_vid": np.repeat(gnums, kf_counts).astype(np.int32),
        "kf_time": np.asarray(kf["kf_time"], np.float64), "kf_hash": hashes,
        "kf_s0": np.asarray(kf["kf_s0"], np.float64), "kf_s1": np.asarray(kf["kf_s1"], np.float64),
        "au_vstart": au_vstart, "au_items": np.asarray(au_items, np.uint32)}
    for b in range(BANDS):
        band = ((hashes >> np.uint64(b * BAND_BITS)) & np.uint64(0xFFFF)).astype(np.int64)
        order = np.argsort(band, kind="stable")
        arrays[f"kf_order{b}"] = order.astype(np.int32)
        # the band's values in sorted order (2 bytes a keyframe), searched at match time: a table of bucket starts
        # would cost 0.5 MB per band and segment whatever the segment's size (a one-video segment filled a small disk)
        arrays[f"kf_band{b}"] = band[order].astype(np.uint16)
    items = arrays["au_items"]
    nz = np.nonzero(items)[0]
    owner = np.repeat(np.arange(nv, dtype=np.int64), au_counts)[nz]
    keys = items[nz]
    order = np.argsort(keys, kind="stable")
    arrays["au_keys"] = keys[order]
    arrays["au_vid"] = gnums[owner[order]]
    arrays["au_pos"] = (nz[order] - au_vstart[owner[order]]).astype(np.int32)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=".tmp-seg-"))
    try:
        for name, arr in arrays.items():
            with open(tmp / f"{name}.npy", "wb") as f:
                np.save(f, np.ascontiguousarray(arr, _DTYPES[name]), allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
        meta = {"videos": nv, "keyframes": len(hashes), "items": len(items), "postings": len(keys)}
        atomic_write_json(tmp / "meta.json", meta)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _columns(entries: Sequence[tuple[int, Entry]]) -> tuple:
    """Columnar arrays of entries for ``write_segment``."""
    gnums = np.array([g for g, _ in entries], np.int32)
    kf_counts: list[int] = []
    au_counts: list[int] = []
    items: list[np.ndarray] = []
    cols: dict[str, list[Any]] = {k: [] for k in ("kf_time", "kf_hash", "kf_s0", "kf_s1")}
    for _, e in entries:
        rows = [r for r in e.keyframes if int(r[1]) & 0xFFFFFFFFFFFFFFFF]
        kf_counts.append(len(rows))
        for t, h, s0, s1 in rows:
            cols["kf_time"].append(float(t))
            cols["kf_hash"].append(int(h) & 0xFFFFFFFFFFFFFFFF)
            cols["kf_s0"].append(np.nan if s0 is None else float(s0))
            cols["kf_s1"].append(np.nan if s1 is None else float(s1))
        it = np.zeros(0, np.uint32) if e.items is None else np.asarray(e.items, np.uint32)
        au_counts.append(len(it))
        items.append(it)
    kf = {"kf_time": np.array(cols["kf_time"], np.float64), "kf_hash": np.array(cols["kf_hash"], np.uint64),
          "kf_s0": np.array(cols["kf_s0"], np.float64), "kf_s1": np.array(cols["kf_s1"], np.float64)}
    return (gnums, np.array(kf_counts, np.int64), kf, np.array(au_counts, np.int64),
            np.concatenate(items) if items else np.zeros(0, np.uint32))


# -- the index ------------------------------------------------------------------
class CopyIndex:
    """The copies index in one folder: open it, ``find`` copies of a new video, ``put`` and ``remove`` videos.

    Writers (``put``, ``remove``, ``sync``, ``rebuild``) must hold ``locked()``: two ingests at once then see each
    other's videos in the order they were added.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._segments: dict[str, Segment] = {}
        self.manifest: dict[str, Any] = {}
        self._load()

    # -- opening -----------------------------------------------------------
    @classmethod
    def create(cls, folder: Path) -> "CopyIndex":
        """An empty index at ``folder`` (replacing whatever manifest was there)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / MANIFEST, {"format": FORMAT, "segments": [], "next": 0, "table": None,
                                               "channels": [], "dead_postings": 0, "postings": 0})
        return cls(folder)

    def _load(self) -> None:
        path = self.folder / MANIFEST
        try:
            st = path.stat()
        except OSError:
            raise CopyIndexError(f"no copies index at {self.folder}; run `clipwatch copies-index --rebuild`") from None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == getattr(self, "_stamp", None):
            return  # the manifest is replaced (a new file) on every change: this one is loaded already
        try:
            m = json.loads(path.read_text())
            if m.get("format") != FORMAT:
                raise ValueError(f"format {m.get('format')!r}, expected {FORMAT}")
            nxt, n_segs = int(m["next"]), len(m["segments"])
            # the live videos, by index number: numpy columns (a JSON table of 100,000 videos took seconds)
            if m["table"]:
                with np.load(self.folder / m["table"], allow_pickle=False) as z:
                    t_g, t_seg, t_ch, t_au = (z[k].astype(np.int64) for k in ("g", "seg", "ch", "au"))
                    blob = z["ids"].tobytes().decode("utf-8")
                t_ids = blob.split("\0") if len(t_g) else []
            else:
                t_g = t_seg = t_ch = t_au = np.zeros(0, np.int64)
                t_ids = []
            if not (len(t_ids) == len(t_g) == len(t_seg) == len(t_ch) == len(t_au)):
                raise ValueError("the video table's columns differ in length")
            if len(t_g) and (t_g.min() < 0 or t_g.max() >= nxt or t_seg.min() < 0 or t_seg.max() >= n_segs
                             or np.any(np.diff(t_g) <= 0)):
                raise ValueError("the video table names videos or segments that are not there")
        except (OSError, ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as exc:
            raise CopyIndexError(f"the copies index manifest at {path} is damaged ({exc}); "
                                 "run `clipwatch copies-index --rebuild`") from exc
        segs = {name: self._segments.get(name) or Segment(self.folder / name) for name in m["segments"]}
        self.manifest, self._segments = m, segs
        self._stamp = stamp
        self.next = nxt
        self.t_g, self.t_seg, self.t_ch, self.t_au, self.t_ids = t_g, t_seg, t_ch, t_au, t_ids
        self._videos: dict[str, tuple[int, str, int, int]] | None = None
        self.channels: list[str] = list(m["channels"])
        self._channel_code = {c: i for i, c in enumerate(self.channels)}
        self.alive = np.zeros(self.next, bool)
        self.alive[t_g] = True
        self.group = np.full(self.next, -1, np.int64)
        self.group[t_g] = t_ch
        # a video of no channel is a group of its own (as ``AudioIndex`` counts recurring material)
        own = self.group < 0
        self.group[own] = -2 - np.nonzero(own)[0]

    @property
    def videos(self) -> dict[str, tuple[int, str, int, int]]:
        """video id -> (index number, segment, channel code or -1, audio postings), built when first asked for."""
        if self._videos is None:
            names = self.manifest["segments"]
            self._videos = {vid: (g, names[s], c, a) for vid, g, s, c, a in zip(
                self.t_ids, self.t_g.tolist(), self.t_seg.tolist(), self.t_ch.tolist(), self.t_au.tolist())}
        return self._videos

    def _row(self, g: int) -> int:
        """Where live video number ``g`` is in the table."""
        return int(np.searchsorted(self.t_g, g))

    def _id_of(self, g: int) -> str:
        return self.t_ids[self._row(g)]

    def _find(self, video_id: str) -> int | None:
        """The table row of a video id, or None (a scan: cheaper than building the id dict for one look-up)."""
        try:
            return self.t_ids.index(video_id)
        except ValueError:
            return None

    @classmethod
    def open(cls, store: Any) -> "CopyIndex":
        """The index of this catalogue's archive; CopyIndexError when it is missing or damaged."""
        return cls(index_dir(store))

    @contextlib.contextmanager
    def locked(self) -> Iterator["CopyIndex"]:
        """Hold the index's writer lock (and see the latest manifest) for the block."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                self._load()
                yield self
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def __len__(self) -> int:
        return len(self.t_ids)

    def __contains__(self, video_id: object) -> bool:
        return isinstance(video_id, str) and self._find(video_id) is not None

    @property
    def postings(self) -> int:
        return int(self.manifest.get("postings", 0))

    def stats(self) -> dict[str, Any]:
        """What the index holds: videos, keyframe hashes, audio postings, segments, bytes on disk, its folder."""
        segs = list(self._segments.values())
        return {"folder": str(self.folder), "videos": len(self), "segments": len(segs),
                "keyframes": int(sum(len(s.a["kf_hash"]) for s in segs)), "postings": self.postings,
                "dead_postings": int(self.manifest.get("dead_postings", 0)),
                "bytes": sum(f.stat().st_size for s in segs for f in s.path.iterdir())}

    # -- writing -----------------------------------------------------------
    def _commit(self, segments: list[str], videos: Mapping[str, tuple[int, str, int, int]], nxt: int,
                dead: int, new_segments: Mapping[str, Segment] = {}) -> None:
        postings = sum((new_segments.get(s) or self._segments[s]).n_postings for s in segments)
        rows = sorted(videos.items(), key=lambda kv: kv[1][0])
        seg_no = {s: i for i, s in enumerate(segments)}
        table: dict[str, np.ndarray] = {"g": np.array([v[0] for _, v in rows], np.int64), "seg": np.array([seg_no[v[1]] for _, v in rows], np.int32),
                 "ch": np.array([v[2] for _, v in rows], np.int32), "au": np.array([v[3] for _, v in rows], np.int64),
                 "ids": np.frombuffer("\0".join(k for k, _ in rows).encode("utf-8"), np.uint8)}
        if any("\0" in k for k, _ in rows):
            raise ValueError("a video id with a NUL character cannot be indexed")
        table_name = f"table-{nxt:010d}-{os.urandom(4).hex()}.npz"
        atomic_write(self.folder / table_name, lambda f: np.savez(f, allow_pickle=False, **table))
        atomic_write_json(self.folder / MANIFEST, {
            "format": FORMAT, "segments": segments, "next": nxt, "channels": self.channels, "table": table_name,
            "dead_postings": dead, "postings": postings})
        old = set(self._segments) - set(segments)
        old_table = self.manifest.get("table")
        self._segments = {s: new_segments.get(s) or self._segments[s] for s in segments}
        self._load()
        # after the manifest: a crash before this leaves files the next sweep removes
        for name in old:
            shutil.rmtree(self.folder / name, ignore_errors=True)
        if old_table:
            (self.folder / old_table).unlink(missing_ok=True)

    def _code(self, channel: str | None) -> int:
        if channel is None:
            return -1
        if channel not in self._channel_code:
            self._channel_code[channel] = len(self.channels)
            self.channels.append(channel)
        return self._channel_code[channel]

    def put(self, entries: Iterable[Entry]) -> int:
        """Add videos (a video already held is replaced). Returns how many were written."""
        entries = list({e.video_id: e for e in entries}.values())
        if not entries:
            return 0
        _, kf_counts, kf, au_counts, items = _columns([(0, e) for e in entries])
        return self.put_columns([e.video_id for e in entries], [e.channel for e in entries], kf_counts, kf,
                                au_counts, items)

    def put_columns(self, video_ids: Sequence[str], channels: Sequence[str | None], kf_counts: np.ndarray,
                    kf: Mapping[str, np.ndarray], au_counts: np.ndarray, items: np.ndarray) -> int:
        """``put`` for many videos at once, as columns (a rebuild, a benchmark's archive).

        Arguments: video_ids, channels — one per video (ids unique); kf_counts / au_counts — keyframes and audio
            items per video; kf — ``kf_time``, ``kf_hash`` (non-zero), ``kf_s0``, ``kf_s1`` concatenated in video
            order; items — the audio items (uint32, silent 0) concatenated.
        Returns: how many videos were written."""
        if not len(video_ids):
            return 0
        videos = dict(self.videos)
        dead = int(self.manifest.get("dead_postings", 0))
        gnums = np.arange(self.next, self.next + len(video_ids), dtype=np.int32)
        for vid in video_ids:
            if vid in videos:
                dead += videos.pop(vid)[3]
        nxt = self.next + len(video_ids)
        name = f"seg-{nxt:010d}-{os.urandom(4).hex()}"
        write_segment(self.folder / name, gnums, kf_counts, kf, au_counts, items)
        seg = Segment(self.folder / name)
        starts = np.concatenate(([0], np.cumsum(au_counts)))
        nonzero = np.concatenate(([0], np.cumsum(np.asarray(items) != 0)))
        live = (nonzero[starts[1:]] - nonzero[starts[:-1]]).tolist()
        for g, vid, ch, n in zip(gnums.tolist(), video_ids, channels, live):
            videos[vid] = (g, name, self._code(ch), int(n))
        self._commit(self.manifest["segments"] + [name], videos, nxt, dead, {name: seg})
        self._maybe_merge()
        return len(video_ids)

    def remove(self, video_ids: Iterable[str]) -> int:
        """Mark videos deleted (their entries are dropped at the next merge). Returns how many were held."""
        videos = dict(self.videos)
        dead = int(self.manifest.get("dead_postings", 0))
        n = 0
        for vid in video_ids:
            if vid in videos:
                dead += videos.pop(vid)[3]
                n += 1
        if n:
            self._commit(list(self.manifest["segments"]), videos, self.next, dead)
            self._maybe_merge()
        return n

    def _maybe_merge(self) -> None:
        segs = list(self.manifest["segments"])
        held = sum(self._segments[s].n_videos for s in segs)
        dead_videos = held - len(self)
        if len(self) and (int(self.manifest.get("dead_postings", 0)) > DEAD_SHARE * max(1, self.postings)
                          or dead_videos > DEAD_SHARE * held):
            self._merge(segs)
            return
        if not len(self) and segs:
            self._commit([], {}, self.next, 0)
            return
        size = {s: self._segments[s].n_postings + self._segments[s].n_videos for s in segs}
        while len(segs) > 1 and size[segs[-1]] >= MERGE_RATIO * size[segs[-2]]:
            merged = self._merge(segs[-2:])
            segs = segs[:-2] + [merged]
            size[merged] = self._segments[merged].n_postings + self._segments[merged].n_videos

    def _merge(self, names: list[str]) -> str:
        """Rewrite ``names`` as one segment without their dead entries; returns its name."""
        live = {g for g, s, _, _ in self.videos.values() if s in names}
        gn, kfc, auc, items = [], [], [], []
        kf: dict[str, list[np.ndarray]] = {k: [] for k in ("kf_time", "kf_hash", "kf_s0", "kf_s1")}
        for name in names:
            seg = self._segments[name]
            vids = np.asarray(seg.a["videos"])
            keep = np.isin(vids, np.fromiter(live, np.int64, len(live)))
            kv, av = np.asarray(seg.a["kf_vstart"]), np.asarray(seg.a["au_vstart"])
            gn.append(vids[keep])
            kfc.append(np.diff(kv)[keep])
            auc.append(np.diff(av)[keep])
            kmask = np.repeat(keep, np.diff(kv))
            for k in kf:
                kf[k].append(np.asarray(seg.a[k])[kmask])
            items.append(np.asarray(seg.a["au_items"])[np.repeat(keep, np.diff(av))])
        name = f"seg-{self.next:010d}-{os.urandom(4).hex()}"
        write_segment(self.folder / name, np.concatenate(gn), np.concatenate(kfc),
                      {k: np.concatenate(v) for k, v in kf.items()}, np.concatenate(auc), np.concatenate(items))
        seg = Segment(self.folder / name)
        segs = [s for s in self.manifest["segments"] if s not in names]
        segs.insert(min(self.manifest["segments"].index(n) for n in names), name)
        videos = {k: (v[0], name if v[1] in names else v[1], v[2], v[3]) for k, v in self.videos.items()}
        # the postings the merge dropped were dead ones
        dropped = sum(self._segments[n].n_postings for n in names) - seg.n_postings
        dead = max(0, int(self.manifest.get("dead_postings", 0)) - dropped)
        self._commit(segs, videos, self.next, dead, {name: seg})
        return name

    def sweep(self) -> list[str]:
        """Remove segment folders no manifest names (left by a crash); returns their names."""
        gone = []
        for p in self.folder.iterdir():
            if p.is_dir() and (p.name.startswith(".tmp-") or p.name.startswith("seg-")) and p.name not in self._segments:
                shutil.rmtree(p, ignore_errors=True)
                gone.append(p.name)
            elif p.is_file() and p.name.startswith("table-") and p.name != self.manifest.get("table"):
                p.unlink(missing_ok=True)
                gone.append(p.name)
        for p in self.folder.glob(".tmp-*"):
            p.unlink(missing_ok=True)
        return gone

    # -- reading -----------------------------------------------------------
    def entry(self, video_id: str) -> Entry:
        """What the index holds for one video (KeyError when it holds none)."""
        g, seg, ch, _ = self.videos[video_id]
        t, h, s0, s1 = self._segments[seg].keyframes_of(g)
        rows = [(float(a), int(b), None if np.isnan(c) else float(c), None if np.isnan(d) else float(d))
                for a, b, c, d in zip(t, h, s0, s1)]
        return Entry(video_id, self.channels[ch] if ch >= 0 else None, rows, self._segments[seg].items_of(g))

    def _alive_without(self, exclude: Iterable[str]) -> tuple[np.ndarray, int]:
        """The live mask with ``exclude`` dead too, and a bound on the postings that are not live."""
        alive = self.alive.copy()
        dead = int(self.manifest.get("dead_postings", 0))
        for v in exclude:
            row = self._find(v)
            if row is not None:
                alive[self.t_g[row]] = False
                dead += int(self.t_au[row])
        return alive, dead

    def keyframe_candidates(self, hashes: np.ndarray, frame_of: np.ndarray, alive: np.ndarray,
                            max_distance: int = MAX_DISTANCE) -> set[int]:
        """Index numbers of live videos where enough query keyframes find a keyframe within ``max_distance`` to
        make a keyframe link (``copies.keyframes_needed`` of the query's and the video's keyframe counts).

        Arguments: hashes — every hash a query looks up (plain, crops, mirrors); frame_of — the query keyframe each
            hash belongs to (0..n-1, n the query's non-flat keyframes). A video fewer keyframes find can never align
            enough of them for a link, so leaving it out loses no link. (``match_keyframes`` keeps its best 50: with
            more than 50 videos matching a query, brute force may cut a link these would keep.)
        """
        hashes = np.asarray(hashes, np.uint64)
        keep = hashes != 0
        hashes, frame_of = hashes[keep], np.asarray(frame_of, np.int64)[keep]
        if not len(hashes):
            return set()
        probes = band_probes(max_distance // BANDS).astype(np.int64)
        pairs: list[np.ndarray] = []  # (video number, query keyframe) codes
        found: list[np.ndarray] = []  # video numbers of the distinct stored keyframes found, one per keyframe
        for seg in self._segments.values():
            if not len(seg.a["kf_hash"]):
                continue
            for b in range(BANDS):
                q = ((hashes >> np.uint64(b * BAND_BITS)) & np.uint64(0xFFFF)).astype(np.int64)
                keys = (q[:, None] ^ probes[None, :]).ravel()
                owner = np.repeat(np.arange(len(hashes)), len(probes))
                sorted_band = seg.a[f"kf_band{b}"]
                wanted = keys.astype(np.uint16)  # 16-bit band values: the same dtype, so numpy never copies the band
                lo = np.searchsorted(sorted_band, wanted, side="left").astype(np.int64)
                hi = np.searchsorted(sorted_band, wanted, side="right").astype(np.int64)
                n = hi - lo
                nz = n > 0
                if not nz.any():
                    continue
                offs = _ranges(lo[nz], n[nz])
                pos = np.asarray(seg.a[f"kf_order{b}"][offs]).astype(np.int64)
                qh = hashes[np.repeat(owner[nz], n[nz])]
                dist = _popcount64(np.asarray(seg.a["kf_hash"][pos]) ^ qh)
                near = dist <= max_distance
                g = np.asarray(seg.a["kf_vid"][pos[near]]).astype(np.int64)
                f = frame_of[np.repeat(owner[nz], n[nz])][near]
                live = alive[g]
                pairs.append(np.unique(g[live] * (int(frame_of.max()) + 1) + f[live]))
                found.append(np.stack((g[live], pos[near][live])))
        if not pairs:
            return set()
        g = np.unique(np.concatenate(pairs)) // (int(frame_of.max()) + 1)
        vids, frames = np.unique(g, return_counts=True)
        vids, frames = vids[frames >= MIN_KEYFRAMES_SHORT], frames[frames >= MIN_KEYFRAMES_SHORT]
        total = int(frame_of.max()) + 1
        stored = self._keyframe_counts(vids)
        need = np.array([keyframes_needed(total, int(s)) for s in stored.tolist()], np.int64)
        # A keyframe link also needs MIN_SHARE of either side's keyframes (its score, of the query's; its coverage,
        # of the video's: ``copies._keyframe_evidence``): at most the query keyframes that found something, and the
        # stored keyframes that were found. A news studio's anchor shot finds every bulletin of its channel, and
        # no bulletin shares enough of them to be a copy: those are not worth scoring. (Scores are rounded to 4
        # places before the comparison, hence the margin.)
        seg_pos = np.unique(np.concatenate(found, axis=1), axis=1)
        per_video = np.bincount(np.searchsorted(vids, seg_pos[0][np.isin(seg_pos[0], vids)]), minlength=len(vids))
        share = MIN_SHARE - 1e-4
        ok = (frames >= need) & ((frames >= share * total) | (per_video >= share * stored))
        return {int(v) for v in vids[ok]}

    def _keyframe_counts(self, gnums: np.ndarray) -> np.ndarray:
        """Non-flat keyframes held for each of ``gnums`` (live video numbers)."""
        out = np.zeros(len(gnums), np.int64)
        names = self.manifest["segments"]
        seg_of = self.t_seg[np.searchsorted(self.t_g, gnums)]
        for s, (name, seg) in enumerate((n, self._segments[n]) for n in names):
            mine = np.nonzero(seg_of == s)[0]
            if not len(mine):
                continue
            local = np.searchsorted(seg.a["videos"], gnums[mine])
            out[mine] = np.asarray(seg.a["kf_vstart"][local + 1]) - np.asarray(seg.a["kf_vstart"][local])
        return out

    def _postings(self, keys: np.ndarray, cap: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(raw postings per key, key index, video number, position) of ``keys`` over all segments, at most
        ``cap`` per key and segment."""
        raw = np.zeros(len(keys), np.int64)
        ki, gv, gp = [], [], []
        for seg in self._segments.values():
            if not seg.n_postings:
                continue
            sk = seg.a["au_keys"]
            lo = np.searchsorted(sk, keys, "left")
            hi = np.searchsorted(sk, keys, "right")
            n = (hi - lo).astype(np.int64)
            raw += n
            take = n if cap is None else np.minimum(n, cap)
            offs = _ranges(lo.astype(np.int64), take)
            ki.append(np.repeat(np.arange(len(keys)), take))
            gv.append(np.asarray(seg.a["au_vid"][offs]))
            gp.append(np.asarray(seg.a["au_pos"][offs]))
        if not ki:
            z = np.zeros(0, np.int64)
            return raw, z, z.astype(np.int32), z.astype(np.int32)
        return raw, np.concatenate(ki), np.concatenate(gv), np.concatenate(gp)

    def audio_candidates(self, queries: Sequence[fpmod.AudioFingerprint], alive: np.ndarray,
                         dead_postings: int) -> tuple[set[int], np.ndarray, np.ndarray]:
        """(candidate video numbers, stop keys, recurring keys) for a new video's fingerprints.

        A candidate has, at some offset, the votes ``AudioIndex`` needs to verify it (``MIN_VOTES``, pooled with
        the neighbouring offsets); stop and recurring keys are those of the query's items over the live archive."""
        valid = [q.items[q.valid] for q in queries if len(q)]
        keys = np.unique(np.concatenate(valid)) if valid else np.zeros(0, np.uint32)
        keys = keys[keys != 0]
        if not len(keys) or not self._segments:
            return set(), np.zeros(0, np.uint32), np.zeros(0, np.uint32)
        stop_n = fpmod.STOP_POSTINGS
        raw, ki, gv, gp = self._postings(keys, stop_n + 1)
        live = alive[gv]
        ki, gv, gp = ki[live], gv[live], gp[live]
        # live postings per key: exact where nothing was capped; a key over the cap by more than the dead postings
        # could hold is a stop word whatever is dead; between the two, count it
        count = np.bincount(ki, minlength=len(keys)).astype(np.int64)
        capped = raw > stop_n
        unsure = np.nonzero(capped & (raw <= stop_n + dead_postings))[0]
        if len(unsure):
            _, k2, g2, p2 = self._postings(keys[unsure], None)
            live2 = alive[g2]
            k2, g2, p2 = unsure[k2[live2]], g2[live2], p2[live2]
            count[unsure] = np.bincount(k2, minlength=len(keys))[unsure]
            # their capped postings are replaced by all of them
            keep = ~np.isin(ki, unsure)
            ki, gv, gp = np.concatenate((ki[keep], k2)), np.concatenate((gv[keep], g2)), np.concatenate((gp[keep], p2))
        count[capped & (raw > stop_n + dead_postings)] = stop_n + 1
        stop = count > stop_n
        recurring = self._recurring(keys, ki, gv, capped, alive)
        # votes, exactly as AudioIndex._match_one counts them, for each speed correction
        use = ~stop[ki]
        ki, gv, gp = ki[use], gv[use].astype(np.int64), gp[use].astype(np.int64)
        order = np.argsort(ki, kind="stable")
        ki, gv, gp = ki[order], gv[order], gp[order]
        kstart = np.searchsorted(ki, np.arange(len(keys) + 1))
        cands: set[int] = set()
        shift = np.int64(1 << 31)
        for q in queries:
            qpos = np.nonzero(q.valid)[0]
            qk = q.items[qpos]
            j = np.searchsorted(keys, qk)
            j = np.minimum(j, len(keys) - 1)
            ok = keys[j] == qk
            qpos, j = qpos[ok], j[ok]
            n = kstart[j + 1] - kstart[j]
            offs = _ranges(kstart[j], n)
            if not len(offs):
                continue
            pv = gv[offs]
            diff = gp[offs] - np.repeat(qpos, n)
            code = pv * (shift * 2) + (diff + shift)
            uniq, counts = np.unique(code, return_counts=True)
            pooled = counts.copy()
            for d in (-1, 1):
                k = np.minimum(np.searchsorted(uniq, uniq + d), len(uniq) - 1)
                pooled = pooled + np.where(uniq[k] == uniq + d, counts[k], 0)
            cands.update(int(x) for x in np.unique(uniq[pooled >= fpmod.MIN_VOTES] // (shift * 2)))
        return cands, keys[stop], recurring

    def _recurring(self, keys: np.ndarray, ki: np.ndarray, gv: np.ndarray, capped: np.ndarray,
                   alive: np.ndarray) -> np.ndarray:
        """The query keys held by >= RECURRING_VIDEOS live videos of >= RECURRING_CHANNELS channels (sorted)."""
        span = self.next + len(self.channels) + 4  # group numbers run from -(next + 1) to len(channels) - 1

        def judge(k: np.ndarray, g: np.ndarray, nkeys: int) -> np.ndarray:
            pairs = np.unique(k.astype(np.int64) * (self.next + 1) + g.astype(np.int64))
            pk, pg = pairs // (self.next + 1), pairs % (self.next + 1)
            n_videos = np.bincount(pk, minlength=nkeys)
            gpairs = np.unique(pk * span + (self.group[pg] + self.next + 2))
            n_groups = np.bincount(gpairs // span, minlength=nkeys)
            return (n_videos >= fpmod.RECURRING_VIDEOS) & (n_groups >= fpmod.RECURRING_CHANNELS)

        rec = judge(ki, gv, len(keys))
        # a capped key not yet shown recurring by its first postings: look at all of them
        unsure = np.nonzero(capped & ~rec)[0]
        if len(unsure):
            _, k2, g2, _ = self._postings(keys[unsure], None)
            live = alive[g2]
            rec[unsure] = judge(k2[live], g2[live], len(unsure))
        return keys[rec]

    def candidates(self, new_id: str, keyframes: Sequence[Any] = (), audio: Sequence[fpmod.AudioFingerprint] = (),
                   max_distance: int = MAX_DISTANCE) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(candidate video ids, stop keys, recurring keys) of a new video (itself left out, as the archive's
        brute-force matcher leaves it out)."""
        alive, dead = self._alive_without([new_id])
        frames = [f for f in query_frames(keyframes) if f.phash]
        looked = [(i, h) for i, f in enumerate(frames) for h in (f.phash, *f.alt, f.phash_mirror, *f.alt_mirror) if h]
        kc = self.keyframe_candidates(np.array([h for _, h in looked], np.uint64),
                                      np.array([i for i, _ in looked], np.int64), alive, max_distance) if looked else set()
        ac, stop, rec = self.audio_candidates(list(audio), alive, dead) if audio else (set(), np.zeros(0, np.uint32),
                                                                                     np.zeros(0, np.uint32))
        self._last_gnums = {self._id_of(g): g for g in kc | ac}
        return sorted(self._last_gnums), stop, rec

    def find(self, new: VideoFacts, keyframes: Sequence[Any], audio: Sequence[fpmod.AudioFingerprint],
             facts: Mapping[str, VideoFacts] | Any) -> list[CopyLink]:
        """Copy links between ``new`` and the indexed archive: the links ``CopyFinder.find`` gives over every
        archived video, from the candidates only.

        Arguments:
            new: the new video's facts; keyframes: its QueryFrames (or Keyframes); audio: its fingerprints with
                speed corrections (``fingerprint.query_fingerprints``).
            facts: the archived videos' facts, a mapping, or a callable (ids -> mapping) that loads the candidates'.
        Returns:
            The links, as ``copies.decide_links`` makes them.
        """
        ids, stop, rec = self.candidates(new.video_id, keyframes, audio)
        # the candidates' keyframes and fingerprints, as arrays (no per-row Python): the matcher CopyFinder runs
        kf_cols: list[list[np.ndarray]] = [[], [], [], [], []]
        fps = []
        for n, vid in enumerate(ids):
            g = self._last_gnums[vid]
            seg = self.manifest["segments"][int(self.t_seg[self._row(g)])]
            cols = self._segments[seg].keyframes_of(g)
            kf_cols[0].append(np.full(len(cols[0]), n, np.int32))
            for j, c in enumerate(cols):
                kf_cols[j + 1].append(c)
            fps.append(self._segments[seg].items_of(g))
        kfi = HashIndex()
        if ids and sum(len(c) for c in kf_cols[0]):
            vidx, t, h, s0, s1 = (np.concatenate(c) for c in kf_cols)
            kfi._video_ids, kfi._vid_of = list(ids), {v: i for i, v in enumerate(ids)}
            kfi._chunks = [(vidx, t, h, s0, s1)]
        aui = AudioIndex.from_arrays(fps, ids)
        aui.global_stop, aui.global_recurring = stop, rec
        got = facts(ids) if callable(facts) else facts
        kms = match_keyframes(keyframes, kfi, exclude=[new.video_id], limit=50) if keyframes and len(kfi) else []
        ams = aui.match(list(audio), exclude=[new.video_id], limit=50) if audio and ids else []
        # distinct pictures (a still image proves nothing), as CopyFinder.add counts them; only keyframe matches
        # that align enough keyframes to be evidence ever read them
        if new.pictures is None and keyframes:
            new = replace(new, pictures=distinct_pictures(k.phash if hasattr(k, "phash") else k[1] for k in keyframes))
        table: dict[Any, VideoFacts] = {v: got.get(v) or VideoFacts(v) for v in [m.video_id for m in kms] + [m.video_id for m in ams]}
        pos = {v: i for i, v in enumerate(ids)}
        for m in kms:
            f = table[m.video_id]
            hashes = kf_cols[2][pos[m.video_id]]
            if f.pictures is None and len(hashes) and m.aligned >= keyframes_needed(m.total, m.stored):
                table[m.video_id] = replace(f, pictures=distinct_pictures(hashes.tolist()))
        return decide_links(new, kms, ams, table)


def _popcount64(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, np.uint64)
    return np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1).astype(np.int64)


# -- the catalogue's side --------------------------------------------------------
def entries_from_catalogue(store: Any, only: Iterable[str] | None = None) -> list[Entry]:
    """Index entries for the catalogue's videos (all, or ``only`` these): keyframe hashes, fingerprint, channel."""
    ids = None if only is None else list(only)
    if ids is not None and not ids:
        return []
    facts = store.video_facts(ids)
    rows: dict[str, list] = {}
    for r in store.keyframe_rows(only=ids):
        rows.setdefault(r[0], []).append((r[1], r[2], r[3], r[4]))
    fps = dict(store.fingerprints(only=ids))
    return [Entry(f["id"], f["channel"], rows.get(f["id"], ()),
                  np.frombuffer(fps[f["id"]], "<u4").astype(np.uint32) if f["id"] in fps else None) for f in facts]


def rebuild(store: Any, folder: Path | None = None) -> CopyIndex:
    """Build the index afresh from the catalogue (the authority), replacing whatever was there."""
    folder = Path(folder) if folder is not None else index_dir(store)
    folder.mkdir(parents=True, exist_ok=True)
    idx = CopyIndex.create(folder)
    with idx.locked():
        idx.sweep()
        idx.put(entries_from_catalogue(store))
        idx.sweep()
    return idx


def open_or_rebuild(store: Any) -> tuple[CopyIndex, str | None]:
    """The catalogue's index, rebuilt first when it is missing or damaged: (index, why it was rebuilt or None).

    A missing index folder (an archive's first copies stage, or a folder someone deleted) is built without a warning
    on the console; a damaged one is rebuilt with a warning. The reason is returned either way.
    """
    try:
        return CopyIndex.open(store), None
    except CopyIndexError as exc:
        if index_dir(store).exists():
            log.warning("%s; rebuilding it from the catalogue", exc)
        else:
            log.info("%s; building it from the catalogue", exc)
        return rebuild(store), str(exc)


def sync(idx: CopyIndex, store: Any, skip: str | None = None, full: bool = False) -> tuple[int, int]:
    """Bring the index up to the catalogue's list of videos (hold ``idx.locked()``): videos it has never seen are
    added (but ``skip``, which the caller puts itself), videos the catalogue no longer has (deleted) are removed.

    Without ``full``, the lists are compared only when the counts differ: each video is put by its copies stage
    and each deletion removes it (``forget``), so equal counts are the rule, and reading 100,000 ids per new
    video cost ~0.2 s of CPU. ``clipwatch copies-index`` compares them always.

    Returns: (added, removed)."""
    if not full and store.video_count() == len(idx) + (0 if skip is None or skip in idx else 1):
        return 0, 0
    ids = set(store.video_ids())
    missing = ids - set(idx.videos) - {skip}
    gone = set(idx.videos) - ids
    added = idx.put(entries_from_catalogue(store, sorted(missing))) if missing else 0
    removed = idx.remove(sorted(gone)) if gone else 0
    return added, removed


def facts_loader(store: Any):
    """A callable ids -> {id: VideoFacts} reading only those videos' rows from the catalogue."""
    def load(ids: Sequence[str]) -> dict[str, VideoFacts]:
        return {r["id"]: VideoFacts(r["id"], r["upload_date"], r["archived_at"], r["duration"], r["channel"])
                for r in store.video_facts(list(ids))} if ids else {}
    return load


def forget(store: Any, video_ids: Iterable[str]) -> int:
    """Remove deleted videos from the catalogue's index, when it has one (else nothing to do). Returns how many."""
    try:
        idx = CopyIndex.open(store)
    except CopyIndexError:
        return 0
    with idx.locked():
        return idx.remove(list(video_ids))
