"""The persistent copies index (issue 19 item 4): the links it finds are the links brute force over the whole
archive finds (``CopyFinder`` with every video loaded), through incremental adds, replacements, deletions and
merges; a deleted or damaged index is an error that names the fix, and rebuilding from the catalogue (SQLite and
PostgreSQL) gives the same links again."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pipeline.copies import index as copyindex
from pipeline.copies.copies import CopyFinder, VideoFacts
from pipeline.copies.fingerprint import STOP_POSTINGS, AudioFingerprint
from pipeline.copies.index import CopyIndex, CopyIndexError, Entry
from pipeline.copies.matching import QueryFrame
from pipeline.domain import MediaRecord, VideoRecord
from pipeline.storage.base import open_catalogue

HUM = np.uint32(0xC0FFEE)  # one item in many videos: a stop word (more than STOP_POSTINGS postings)


def _flip(rng, x: np.ndarray, bits: int, rate: float) -> np.ndarray:
    """Flip ``bits`` random bits in a share ``rate`` of the values (a re-encode's small errors)."""
    x = x.copy()
    width = 8 * x.dtype.itemsize
    for i in np.nonzero(rng.random(len(x)) < rate)[0]:
        for b in rng.choice(width, bits, replace=False):
            x[i] ^= x.dtype.type(1) << x.dtype.type(int(b))
    return x


class World:
    """A seeded archive: random videos, copies (re-encoded, excerpts), a jingle shared across channels, a hum."""

    def __init__(self, seed: int, n: int = 40, studio: float = 0.0):
        self.rng = rng = np.random.default_rng(seed)
        studios = [int(rng.integers(1, 2**63)) for _ in range(6)]
        jingle = rng.integers(1, 2**32, 40, dtype=np.uint64).astype(np.uint32)
        self.videos: dict[str, dict] = {}
        for i in range(n):
            vid = f"v{i:03d}"
            parent = f"v{int(rng.integers(0, i)):03d}" if i > 4 and rng.random() < 0.35 else None
            if parent:
                p = self.videos[parent]
                a = int(rng.integers(0, len(p["items"]) // 3))
                items = _flip(rng, p["items"][a:a + int(len(p["items"]) * rng.uniform(0.5, 1.0))], 2, 0.3)
                k0 = int(rng.integers(0, 3))
                kf = [(t - a * 0.124, h, s0 - a * 0.124, s1 - a * 0.124) for t, h, s0, s1 in p["kf"][k0:]]
                kf = [(t, int(_flip(rng, np.array([h], np.uint64), 2, 0.7)[0]), s0, s1) for t, h, s0, s1 in kf]
            else:
                items = rng.integers(1, 2**32, int(rng.integers(150, 500)), dtype=np.uint64).astype(np.uint32)
                nk = int(rng.integers(2, 12))
                kf = [(k * 4.0 + 2, int(rng.integers(1, 2**63, dtype=np.int64)) * 2 + 1, k * 4.0, k * 4.0 + 4) for k in range(nk)]
            ch = int(rng.integers(0, 6))
            if studio and not parent:  # the channel's anchor shot, nearly the same picture in each of its bulletins
                kf = [(t, studios[ch] ^ (1 << int(rng.integers(0, 64))) if rng.random() < studio else h, s0, s1)
                      for t, h, s0, s1 in kf]
            if rng.random() < 0.3:  # the station jingle, in several channels' videos
                at = int(rng.integers(0, max(1, len(items) - 40)))
                items = items.copy()
                items[at:at + 40] = jingle[: len(items[at:at + 40])]
            if rng.random() < 0.5:  # the hum: one item, many times, in many videos
                items = items.copy()
                items[5::8] = HUM
            if rng.random() < 0.1:
                items[:] = 0  # no sound
            self.videos[vid] = {"items": items, "kf": kf, "channel": f"ch{ch}" if rng.random() < 0.9 else None,
                                "facts": VideoFacts(vid, f"2024-01-{1 + i % 28:02d}", f"2025-01-01T00:{i // 60:02d}:{i % 60:02d}Z",
                                                    len(items) * 0.124, None)}
        for v in self.videos.values():
            v["facts"] = VideoFacts(v["facts"].video_id, v["facts"].upload_date, v["facts"].archived_at,
                                    v["facts"].duration, v["channel"])

    def entry(self, vid: str) -> Entry:
        v = self.videos[vid]
        return Entry(vid, v["channel"], v["kf"], v["items"])

    def query(self, vid: str) -> tuple[VideoFacts, list[QueryFrame], list[AudioFingerprint]]:
        """A video as a new one: its keyframes (and mirror hashes), its audio at five speed corrections."""
        v = self.videos[vid]
        rng = np.random.default_rng(int(vid[1:]))  # the same query every time it is asked for
        frames = [QueryFrame(t, h, int(rng.integers(1, 2**63)), s0, s1) for t, h, s0, s1 in v["kf"]]
        items = v["items"]
        valid = items != 0
        fps = [AudioFingerprint(items, valid.copy(), len(items) * 0.124)]
        for s in (1.05, 1 / 1.05, 1.05, 1 / 1.05):
            other = rng.integers(1, 2**32, len(items), dtype=np.uint64).astype(np.uint32)
            fps.append(AudioFingerprint(other, other != 0, len(items) * 0.124, s, "rate"))
        return v["facts"], frames, fps

    def brute(self, ids, new: str):
        """What ``CopyFinder`` finds with every other video in ``ids`` loaded (today's stage)."""
        finder = CopyFinder()
        for vid in ids:
            if vid != new:
                v = self.videos[vid]
                finder.add(v["facts"], [(vid, *r) for r in v["kf"]], v["items"])
        return finder.find(*self.query(new))


def links(found) -> list[tuple]:
    return sorted((link.original, link.copy, link.method, link.offset, link.confidence, link.coverage, link.direction,
                   tuple(sorted(map(str, link.detail.items())))) for link in found)


def facts_of(world: World):
    return {vid: v["facts"] for vid, v in world.videos.items()}


@pytest.mark.parametrize("seed,studio", [(3, 0.0), (4, 0.3), (6, 0.6)])
def test_the_index_finds_the_links_brute_force_finds(tmp_path, seed, studio):
    world = World(seed=seed, studio=studio)
    ids = list(world.videos)
    idx = CopyIndex.create(tmp_path / "ix")
    with idx.locked():
        idx.put(world.entry(v) for v in ids)
    # the hum really is a stop word here, and the jingle recurs: both global rules are exercised
    assert sum(int((world.videos[v]["items"] == HUM).sum()) for v in ids) > STOP_POSTINGS
    total = 0
    for new in ids:
        got = idx.find(*world.query(new), facts_of(world))
        want = world.brute(ids, new)
        assert links(got) == links(want), new
        total += len(want)
    assert total >= 10  # copies were planted and found, so agreeing means something


def test_incremental_adds_replacements_deletions_and_merges(tmp_path):
    world = World(seed=5, n=36)
    ids = list(world.videos)
    idx = CopyIndex.create(tmp_path / "ix")
    with idx.locked():
        for start in range(0, 24, 3):  # one small segment per batch: merges happen on the way
            idx.put(world.entry(v) for v in ids[start:start + 3])
        for vid in ids[24:]:
            idx.put([world.entry(vid)])
        assert len(idx) == len(ids)
        assert len(idx.manifest["segments"]) < 8  # merged, not one segment per put
        # replace a video (its copy stage ran again), delete some
        world.videos[ids[7]]["kf"] = world.videos[ids[7]]["kf"][:2]
        idx.put([world.entry(ids[7])])
        gone = [v for v in ids if int(v[1:]) % 4 == 1]
        assert idx.remove(gone + ["never-there"]) == len(gone)
    kept = [v for v in ids if v not in gone]
    assert sorted(idx.videos) == sorted(kept)
    for new in kept:
        assert links(idx.find(*world.query(new), facts_of(world))) == links(world.brute(kept, new)), new
    # a deleted video is found by nobody
    assert not any(set(gone) & {link.original, link.copy} for new in kept
                   for link in idx.find(*world.query(new), facts_of(world)))
    # reopened from disk: the same
    again = CopyIndex(tmp_path / "ix")
    assert sorted(again.videos) == sorted(kept)
    new = kept[-1]
    assert links(again.find(*world.query(new), facts_of(world))) == links(world.brute(kept, new))


def test_deleting_every_video_and_adding_again(tmp_path):
    world = World(seed=8, n=8)
    idx = CopyIndex.create(tmp_path / "ix")
    with idx.locked():
        idx.put(world.entry(v) for v in world.videos)
        idx.remove(list(world.videos))
        assert len(idx) == 0 and idx.postings == 0
        idx.put([world.entry("v000")])
    assert list(idx.videos) == ["v000"]


def test_a_crash_leaves_the_old_index_and_the_sweep_removes_what_it_left(tmp_path, monkeypatch):
    world = World(seed=9, n=10)
    idx = CopyIndex.create(tmp_path / "ix")
    with idx.locked():
        idx.put(world.entry(v) for v in list(world.videos)[:5])
    before = dict(idx.videos)

    write = copyindex.atomic_write_json

    def crash(dest, obj):
        if Path(dest).name == "manifest.json":  # the segment is written, the manifest never replaced
            raise OSError("disk full")
        write(dest, obj)

    monkeypatch.setattr(copyindex, "atomic_write_json", crash)
    with pytest.raises(OSError), idx.locked():
        idx.put([world.entry("v007")])
    monkeypatch.undo()
    again = CopyIndex(tmp_path / "ix")
    assert again.videos == before  # the old index, whole
    with again.locked():
        gone = again.sweep()  # the segment and the video table written before the crash
        assert len(gone) == 2 and any(name.startswith("seg-") for name in gone)
    assert {p.name for p in (tmp_path / "ix").iterdir() if p.is_dir()} == set(again.manifest["segments"])
    assert {p.name for p in (tmp_path / "ix").glob("table-*")} == {again.manifest["table"]}


# -- with a catalogue -----------------------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def cat(request, tmp_path):
    """A fresh catalogue of each kind, with the archive folder the index lives in."""
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'data' / 'clipwatch.db'}"
    else:
        url = request.getfixturevalue("pg").create_database(f"ci_{uuid.uuid4().hex[:10]}")
    with open_catalogue(url) as c:
        if getattr(c, "data_dir", None) is None:
            c.data_dir = tmp_path / "data"
        yield c


def _catalogue(cat, world: World, ids) -> None:
    for vid in ids:
        v = world.videos[vid]
        f = v["facts"]
        cat.upsert_video(VideoRecord(id=vid, extractor="generic", platform_id=vid, webpage_url=f"https://e.org/{vid}",
                                     source_url="https://e.org/feed", channel=v["channel"], upload_date=f.upload_date,
                                     duration=f.duration), f"videos/{vid}")
        sha = f"{int(vid[1:]):064x}"
        cat.add_media_file(MediaRecord(sha256=sha, video_id=vid, path=f"media/{sha[:2]}/{sha}.mp4", size=10,
                                       fetched_at="2024-01-01T00:00:00Z", fetcher="yt-dlp"))
        cat.replace_keyframes(vid, sha, [SimpleNamespace(shot_index=i, shot_start=s0, shot_end=s1, time=t, path=f"videos/{vid}/k{i}.jpg", phash=h)
                                         for i, (t, h, s0, s1) in enumerate(v["kf"])], "test", "1")
        if v["items"].any():
            cat.save_fingerprint(vid, sha, v["items"].astype("<u4").tobytes(), f.duration, "test", "1")


def _catalogue_facts(cat) -> dict[str, VideoFacts]:
    return copyindex.facts_loader(cat)(cat.video_ids())


def test_rebuilt_from_either_catalogue_after_the_index_is_deleted_or_damaged(cat):
    world = World(seed=11, n=24)
    ids = list(world.videos)
    _catalogue(cat, world, ids)
    facts = _catalogue_facts(cat)
    with pytest.raises(CopyIndexError, match="clipwatch copies-index --rebuild"):
        CopyIndex.open(cat)
    idx, why = copyindex.open_or_rebuild(cat)
    assert why and "--rebuild" in why and sorted(idx.videos) == sorted(ids)

    def brute(new):
        finder = CopyFinder()
        rows: dict[str, list] = {}
        for r in cat.keyframe_rows(exclude=new):
            rows.setdefault(r[0], []).append(r)
        fps = dict(cat.fingerprints(exclude=new))
        for vid, f in facts.items():
            if vid != new:
                finder.add(f, rows.get(vid, ()), fps.get(vid))
        _, frames, fps = world.query(new)
        return finder.find(facts[new], frames, fps)

    want = {new: links(brute(new)) for new in ids}
    assert sum(map(len, want.values())) >= 4
    for new in ids:
        assert links(idx.find(facts[new], *world.query(new)[1:], copyindex.facts_loader(cat))) == want[new]

    folder = copyindex.index_dir(cat)
    seg = folder / idx.manifest["segments"][0]
    (seg / "au_keys.npy").write_bytes(b"\x93NUMPY garbage")  # a damaged file
    with pytest.raises(CopyIndexError, match="--rebuild"):
        CopyIndex.open(cat)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(CopyIndexError, match="damaged"):
        CopyIndex.open(cat)
    again, why = copyindex.open_or_rebuild(cat)
    assert why
    for new in ids:
        assert links(again.find(facts[new], *world.query(new)[1:], copyindex.facts_loader(cat))) == want[new]
    shutil.rmtree(folder)
    rebuilt = copyindex.rebuild(cat)
    assert sorted(rebuilt.videos) == sorted(ids)


def test_sync_adds_what_the_catalogue_gained_and_drops_what_it_lost(cat):
    world = World(seed=12, n=12)
    ids = list(world.videos)
    _catalogue(cat, world, ids[:8])
    idx = copyindex.rebuild(cat)
    _catalogue(cat, world, ids[8:])
    with cat.transaction():
        cat.delete_video_rows(ids[0])
    with idx.locked():
        assert copyindex.sync(idx, cat, skip=ids[11]) == (3, 1)
        assert copyindex.sync(idx, cat, skip=ids[11]) == (0, 0)  # counts agree: no lists read
    assert sorted(idx.videos) == sorted(ids[1:11])
    with cat.transaction():
        cat.delete_video_rows(ids[2])  # deleted behind the index's back, while ids[11] was never put:
    with idx.locked():  # equal counts hide both from the quick check, not from a full one
        assert copyindex.sync(idx, cat) == (0, 0)
        assert copyindex.sync(idx, cat, full=True) == (1, 1)
    assert sorted(idx.videos) == sorted([ids[1], *ids[3:12]])
    assert copyindex.forget(cat, [ids[1]]) == 1
    assert ids[1] not in CopyIndex.open(cat)


def test_the_command_says_how_to_rebuild_and_rebuilds(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli.app import app

    world = World(seed=13, n=6)
    data = tmp_path / "data"
    with open_catalogue(data / "clipwatch.db") as c:
        _catalogue(c, world, list(world.videos))
    run = CliRunner().invoke
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "--data-dir", str(data),
                           "copies-index"], capture_output=True, text=True)
    lines = [line for line in proc.stderr.strip().splitlines() if line]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error:") and "copies-index --rebuild" in lines[0]
    res = run(app, ["--data-dir", str(data), "copies-index", "--rebuild", "--json"])
    assert res.exit_code == 0, res.output
    import json
    st = json.loads(res.stdout)
    assert st["videos"] == 6 and st["keyframes"] == sum(len(v["kf"]) for v in world.videos.values())
    res = run(app, ["--data-dir", str(data), "copies-index"])
    assert res.exit_code == 0 and "6 videos" in res.output
