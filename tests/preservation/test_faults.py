"""Fault injection: what a hostile probe of the archive found (issue 12), one test per case, so none comes back.

Forged events, swapped originals, shared originals, edited derivatives, symlinks, hostile file names, read-only
archives, a full disk (a small tmpfs, where this machine may mount one), kill -9 at stage boundaries, Prefect's
temporary server outliving its parent, telemetry, web hardening, and the upgrade of an archive written by the
previous version (commit a1acc0e).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import bagit
import pytest
from conftest import SAMPLES, publish_page
from fastapi.testclient import TestClient
from test_schema_sql import rewrite_event, swap_original_rows

from pipeline.config import Settings
from pipeline.preservation import bag
from pipeline.preservation.fixity import verify
from pipeline.sources.fetch import fetch
from pipeline.stages.runner import record_fetch, run_keyframes
from pipeline.storage.files import Archive
from pipeline.storage.sqlite.catalogue import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REPO = Path(__file__).resolve().parents[2]


def cli(data_dir: Path | str, *args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real `clipwatch` entry point in a child process (what a user sees: stdout, stderr, exit status)."""
    code = "import sys; from pipeline.cli import main; sys.argv[0] = 'clipwatch'; main()"
    e = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-c", code, "--data-dir", str(data_dir), *args], capture_output=True,
                          text=True, timeout=timeout, env=e, cwd=REPO)


def one_error_line(res: subprocess.CompletedProcess) -> str:
    assert res.returncode != 0, res
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    return lines[0]


def one_error_line_allowing_table(res: subprocess.CompletedProcess) -> str:
    """stderr holds exactly one `error:` line and no traceback (stdout may hold the report table)."""
    assert res.returncode != 0, res
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in res.stderr + res.stdout, res.stderr
    assert len([ln for ln in res.stderr.splitlines() if ln.strip()]) <= 3, res.stderr
    return errors[0]


def _events(store, vid, kind):
    return [json.loads(e["detail"]) for e in store.events(vid) if e["kind"] == kind]


@pytest.fixture
def shared(server, store, archive):
    """The same bytes published on two pages: two videos, one file."""
    a = publish_page(server, "bulletin", SAMPLES / "evening-bulletin.mp4", "Evening News Bulletin", channel="Sample TV")
    b = publish_page(server, "bulletin-copy", SAMPLES / "evening-bulletin.mp4", "Re-upload", channel="Other TV")
    va = record_fetch(store, archive, fetch(a, archive), None).video_id
    vb = record_fetch(store, archive, fetch(b, archive), None).video_id
    return va, vb, a, b


# -- 1. a byte-identical original shared by two videos --------------------------------------------------------

def test_shared_original_is_verified_bagged_and_shown_for_each_video(shared, store, archive, tmp_path, data_dir):
    va, vb, url_a, url_b = shared
    sha = store.get_video(va)["media_sha256"]
    assert store.get_video(vb)["media_sha256"] == sha and store.videos_holding(sha) == sorted([va, vb])
    assert len(store.media_rows()) == 1  # one row per file ...
    assert [m["source_url"] for m in store.media_for_video(vb)] == [url_b]  # ... and each video's own fetch
    res = verify(store, archive, [vb])
    assert res.ok and res.counts()["ok"] == 1 and res.files[0].video_id == vb
    # The second video's bag holds the original.
    out = bag.export_bag(store, archive, tmp_path / "bag", [vb])
    assert (tmp_path / "bag" / "data" / "videos" / vb / "original" / f"{sha}.mp4").is_file() and out.valid
    # `show` gives the second video's own provenance, not the first's.
    shown = json.loads(cli(data_dir, "show", vb, "--json").stdout)
    assert shown["media"]["source_url"] == url_b and shown["media"]["video_id"] == vb
    # A corruption is reported for every video holding the file.
    path = archive.abspath(store.media_file(sha)["path"])
    path.write_bytes(path.read_bytes()[:-10])
    res = verify(store, archive)
    assert sorted(p.video_id for p in res.problems) == sorted([va, vb])
    assert all(p.status == "corrupt" for p in res.problems)
    assert len(_events(store, va, "corrupt")) == 1 and len(_events(store, vb, "corrupt")) == 1
    res = cli(data_dir, "verify", vb)
    assert res.returncode == 1 and "corrupt" in res.stderr and "0 verified" in res.stdout


# -- 2. an original swapped together with its catalogue hash ------------------------------------------------------

def _swap(store, archive, vid, rename: bool):
    """What an adversary with the database and the files does: new bytes, and the catalogue made to agree."""
    old = store.get_video(vid)["media_sha256"]
    row = store.media_file(old)
    new_bytes = (SAMPLES / "song-of-the-factory.mp4").read_bytes()
    import hashlib

    new = hashlib.sha256(new_bytes).hexdigest()
    old_path = archive.abspath(row["path"])
    new_rel = f"media/{new[:2]}/{new}.mp4" if rename else row["path"]
    old_path.unlink()
    archive.abspath(new_rel).parent.mkdir(parents=True, exist_ok=True)
    archive.abspath(new_rel).write_bytes(new_bytes)
    swap_original_rows(store, old, new, len(new_bytes), new_rel)


@pytest.mark.parametrize("rename", [False, True], ids=["same-name", "renamed-to-new-hash"])
def test_original_swapped_with_its_catalogue_hash_is_caught(server, store, archive, rename):
    url = publish_page(server, "bulletin", SAMPLES / "evening-bulletin.mp4", "Evening News Bulletin")
    vid = record_fetch(store, archive, fetch(url, archive), None).video_id
    assert verify(store, archive, [vid]).ok
    _swap(store, archive, vid, rename)
    res = verify(store, archive, [vid])
    # The swapped original, and (issue 21) the catalogue rows that no longer match the chain's record of them.
    originals = [p for p in res.problems if p.role == "original" and p.actual_sha256]
    [p] = originals
    assert p.status == "corrupt" and all(q.status == "corrupt" for q in res.problems)
    if rename:  # the name agrees too: the `fetched` event does not
        assert "fetched" in p.message
    else:
        assert "content address" in p.message


# -- 3. the append-only log rewritten ----------------------------------------------------------------------------

def test_verify_prints_the_chain_head_and_reports_a_broken_chain(shared, store, data_dir):
    ok = cli(data_dir, "verify", "--all")
    assert ok.returncode == 0, ok.stderr
    head_id, head_hash, _ = store.chain_head()
    assert f"chain head: {head_id} {head_hash}" in ok.stdout and "event chain: intact" in ok.stdout
    rewrite_event(store, 1)
    bad = cli(data_dir, "verify", "--all")
    assert bad.returncode == 1 and "event chain broken" in bad.stderr and "event 1" in bad.stderr


def test_bag_carries_the_chain_head(shared, store, archive, tmp_path):
    va, _vb, _, _ = shared
    head_id, head_hash, _ = store.chain_head()
    bag.export_bag(store, archive, tmp_path / "bag", [va])
    b = bagit.Bag(str(tmp_path / "bag"))
    assert b.info["Clipwatch-Event-Chain-Head"] == f"{head_id} {head_hash}"
    prov = json.loads((tmp_path / "bag" / "data" / "provenance.json").read_text())
    assert prov["event_chain_head"]["hash"] == head_hash


def test_chain_head_timestamped_by_a_loopback_rfc3161_authority(shared, store, archive, data_dir):
    from pipeline.preservation.timestamp import TimestampError, timestamp_head
    from pipeline.testing.tsa import LoopbackTSA

    with LoopbackTSA() as tsa:
        res = cli(data_dir, "verify", "--all", "--tsa", tsa.url, "--json")
        assert res.returncode == 0, res.stderr
        stamp = json.loads(res.stdout)["timestamp"]
        assert tsa.requests == 1 and stamp["signer"] == "CN=clipwatch loopback TSA"
    token = archive.abspath(stamp["token_path"])
    assert token.is_file()
    [ev] = [json.loads(e["detail"]) for e in store.events() if e["kind"] == "timestamped"]
    assert ev["head_hash"] == stamp["head_hash"] and store.chain_report().ok
    with LoopbackTSA(refuse=True) as tsa:
        with pytest.raises(TimestampError, match="refused"):
            timestamp_head(store, archive, tsa.url)
        assert "refused" in one_error_line(cli(data_dir, "verify", "--all", "--tsa", tsa.url))
    with LoopbackTSA(tamper=True) as tsa, pytest.raises(TimestampError, match="another hash"):
        timestamp_head(store, archive, tsa.url)


# -- 4. derivatives hashed -------------------------------------------------------------------------------------

@pytest.fixture
def analysed(server, store, archive):
    from pipeline.asr import Segment, Transcript, subtitles
    from pipeline.preservation.manifest import record_manifest

    url = publish_page(server, "bulletin", SAMPLES / "evening-bulletin.mp4", "Evening News Bulletin")
    vid = record_fetch(store, archive, fetch(url, archive), None).video_id
    run_keyframes(store, archive, vid)
    tr = Transcript(language="en", language_probability=0.99, duration=17.6, model="tiny.en", engine="faster-whisper",
                    engine_version="test", segments=[Segment(0.0, 4.0, "Workers pledged to strengthen the deterrent.")])
    written = subtitles.write_transcript(tr, archive.video_dir(vid), "transcript")
    store.replace_transcript(vid, store.get_video(vid)["media_sha256"], "original", tr, archive.relpath(written["json"]))
    record_manifest(store, archive, vid)  # what run_transcribe does after writing
    return vid, archive.video_dir(vid)


def test_edited_or_deleted_derivatives_fail_verify_and_the_bag(analysed, store, archive, tmp_path):
    vid, folder = analysed
    manifest = json.loads((folder / "manifest.json").read_text())["files"]
    assert {"info.json", "provenance.json", "transcript.json", "transcript.srt", "transcript.vtt", "transcript.txt"} <= set(manifest)
    assert sum(1 for k in manifest if k.startswith("keyframes/")) == 3
    assert verify(store, archive, [vid]).ok
    (folder / "transcript.json").write_text((folder / "transcript.json").read_text().replace("deterrent", "peace"))
    next(folder.glob("keyframes/*.jpg")).write_bytes(b"\xff\xd8 not the keyframe")
    (folder / "transcript.srt").unlink()
    (folder / "info.json").unlink()
    (folder / "provenance.json").unlink()
    res = verify(store, archive, [vid])
    got = {(p.path.rsplit("/", 1)[-1] if p.role != "keyframe" else "keyframe", p.status) for p in res.problems}
    assert got == {("transcript.json", "corrupt"), ("keyframe", "corrupt"), ("transcript.srt", "missing-file"),
                   ("info.json", "missing-file"), ("provenance.json", "missing-file")}
    with pytest.raises(bag.ExportError, match="manifest"):
        bag.export_bag(store, archive, tmp_path / "bag", [vid])
    assert not (tmp_path / "bag").exists()


def test_manifest_edited_with_the_derivative_is_caught(analysed, store, archive):
    vid, folder = analysed
    (folder / "transcript.txt").write_text("forged\n")
    m = json.loads((folder / "manifest.json").read_text())
    import hashlib

    m["files"]["transcript.txt"] = {"sha256": hashlib.sha256(b"forged\n").hexdigest(), "size": 7}
    (folder / "manifest.json").write_text(json.dumps(m))
    [p] = verify(store, archive, [vid]).problems
    assert p.role == "manifest" and p.status == "corrupt"


def test_bag_manifests_carry_the_recorded_derivative_hashes(analysed, store, archive, tmp_path):
    vid, folder = analysed
    bag.export_bag(store, archive, tmp_path / "bag", [vid])
    b = bagit.Bag(str(tmp_path / "bag"))
    recorded = json.loads((folder / "manifest.json").read_text())["files"]
    for name, want in recorded.items():
        target = "fetch-provenance.json" if name == "provenance.json" else name
        assert b.entries[f"data/videos/{vid}/{target}"]["sha256"] == want["sha256"]
    assert (tmp_path / "bag" / "data" / "videos" / vid / "manifest.json").is_file()


# -- 5. bag export and symlinks --------------------------------------------------------------------------------

def test_bag_never_follows_a_symlink_and_says_what_it_skipped(analysed, store, archive, tmp_path, data_dir):
    vid, folder = analysed
    (folder / "passwd").symlink_to("/etc/passwd")
    (folder / "etc").symlink_to("/etc", target_is_directory=True)
    out = bag.export_bag(store, archive, tmp_path / "bag", [vid])
    carried = [p for p in (tmp_path / "bag").rglob("*")]
    assert not any(p.name in ("passwd", "etc", "hosts") for p in carried)
    assert any("passwd" in s and "symbolic link" in s for s in out.skipped)
    assert any("etc" in s for s in out.skipped)
    res = cli(data_dir, "export", "bag", str(tmp_path / "bag2"), vid)
    assert res.returncode == 0 and "skipped" in res.stderr and "passwd" in res.stderr
    assert verify(store, archive, [vid]).ok  # a link is reported (unlisted), never followed, not a failure


# -- 6. failures that are one clean line -----------------------------------------------------------------------

def test_cp949_file_name_is_archived_with_a_readable_title_and_no_orphan(settings, store, archive, tmp_path):
    from pipeline.sources.discovery import discover

    raw = "국가 뉴스".encode("cp949") + b".mp4"
    folder = tmp_path / "zip"
    folder.mkdir()
    shutil.copy(SAMPLES / "evening-bulletin.mp4", os.path.join(os.fsencode(folder), raw))
    found = discover(str(folder))
    [ref] = found.refs
    assert ref.title == "국가 뉴스"
    out = record_fetch(store, archive, fetch(ref.url, archive, source_url=ref.source_url), None)
    v = store.get_video(out.video_id)
    assert v["title"] == "국가 뉴스"
    info = json.loads((archive.video_dir(v["id"]) / "info.json").read_text())
    assert bytes.fromhex(info["original_name_bytes_hex"]) == raw
    assert verify(store, archive).ok
    assert len(list((archive.root / "media").glob("??/*"))) == 1


def test_bad_inputs_are_one_error_line(tmp_path, data_dir):
    afile = tmp_path / "not-a-folder"
    afile.write_text("x")
    assert "is a file, not a folder" in one_error_line(cli(afile, "list"))
    assert "not a valid URL" in one_error_line(cli(data_dir, "ingest", "http://[::1"))
    assert "not a TCP port" in one_error_line(cli(data_dir, "serve", "--port", "99999"))


def test_export_bag_to_an_unwritable_place_is_one_error_line(shared, data_dir):
    line = one_error_line(cli(data_dir, "export", "bag", "/proc/x"))
    assert "/proc/x" in line


def test_web_bad_parameters_are_4xx(shared, settings):
    import base64

    from pipeline.web import create_app

    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        vid = shared[0]
        assert client.get(f"/api/videos/{vid}/citation", params={"t": "inf"}).status_code == 422
        assert client.get(f"/api/videos/{vid}/citation", params={"t": "nan"}).status_code == 422
        cur = base64.urlsafe_b64encode(json.dumps({"o": 2**63, "k": "x"}).encode()).decode().rstrip("=")
        r = client.get("/api/search", params={"q": "news", "cursor": cur})
        assert 400 <= r.status_code < 500


def test_read_only_archive_opens_read_only_for_every_reading_command(shared, store, archive, settings, tmp_path):
    ro = _read_only_copy(settings.data_dir, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in ro.rglob("*")}
    va = shared[0]
    for args in (["list", "--json"], ["show", va, "--json"], ["search", "news", "--json"], ["events", "--json"],
                 ["export", "csv", str(tmp_path / "out.csv")], ["export", "bag", str(tmp_path / "robag"), va]):
        res = cli(ro, *args)
        assert res.returncode == 0, (args, res.stderr)
    res = cli(ro, "verify", "--all")
    assert res.returncode == 0 and "read-only" in res.stderr and "chain head" in res.stdout
    from pipeline.web import create_app

    with TestClient(create_app(Settings(data_dir=ro)), base_url="http://127.0.0.1") as client:
        assert client.get(f"/videos/{va}").status_code == 200
        assert client.get("/api/search", params={"q": "news"}).status_code == 200
    assert {p: p.stat().st_mtime_ns for p in ro.rglob("*")} == before  # nothing was written


def _read_only_copy(src: Path, tmp_path: Path) -> Path:
    """A copy of the data dir on a read-only mount (root ignores file modes), else made unwritable by mode."""
    dest = tmp_path / "ro"
    dest.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(dest)],
                                                   capture_output=True).returncode == 0
    with Store(src / "clipwatch.db") as st:
        st.checkpoint()
    shutil.copytree(src, dest / "data", symlinks=True, ignore=shutil.ignore_patterns("prefect"))
    if mounted:
        subprocess.run(["mount", "-o", "remount,ro", str(dest)], check=True)
        _UNMOUNT.append(dest)
    else:
        for p in sorted((dest / "data").rglob("*"), reverse=True) + [dest / "data"]:
            p.chmod(p.stat().st_mode & ~0o222)
        if os.access(dest / "data", os.W_OK):
            pytest.skip("cannot make a read-only copy here (root without permission to mount)")
    return dest / "data"


_UNMOUNT: list[Path] = []


@pytest.fixture(autouse=True)
def _unmount():
    yield
    while _UNMOUNT:
        subprocess.run(["umount", "-l", str(_UNMOUNT.pop())], capture_output=True)


# -- a full disk -----------------------------------------------------------------------------------------------

@pytest.fixture
def fake_asr(monkeypatch):
    """Transcription without Whisper (the stages around it are what is under test)."""
    import pipeline.asr as asr
    from pipeline.asr import Segment, Transcript

    def fake(path, **kw):
        return Transcript(language="en", language_probability=1.0, duration=4.0, model="fake", engine="fake",
                          engine_version="0", segments=[Segment(0.0, 2.0, "A fake line for the index.")])

    monkeypatch.setattr(asr, "transcribe", fake)


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the full-disk case is not exercised here")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}); the full-disk case is not exercised")
    _UNMOUNT.append(mnt)
    return mnt


def test_full_disk_stops_the_batch_with_one_line_and_loses_nothing(prefect_harness, small_disk, fake_asr, tmp_path):
    from flows.ingest import ingest_flow

    s = Settings(data_dir=small_disk / "data", model="tiny.en", translate=False, semantic=False)
    s.ensure_dirs()
    first = ingest_flow([str(SAMPLES / "evening-bulletin.mp4")], s)
    assert first.failed == 0 and first.videos[0].stages["keyframes"] == "done"
    filler = small_disk / "filler"
    with open(filler, "wb") as f:  # leave less room than the next original needs
        f.write(b"\0" * (shutil.disk_usage(small_disk).free - 120_000))
    report = ingest_flow([str(SAMPLES / "ministry-statement.mp4"), str(SAMPLES / "song-of-the-factory.mp4")], s)
    assert report.stopped and "full" in report.stopped
    assert [v.stages.get("fetch") for v in report.videos] == ["failed", "not-attempted"]
    # The same through the command: one line, what to do, non-zero.
    res = cli(s.data_dir, "ingest", str(SAMPLES / "ministry-statement.mp4"), str(SAMPLES / "song-of-the-factory.mp4"),
              timeout=300, env={"CLIPWATCH_SEMANTIC": "0", "PREFECT_HOME": str(s.data_dir / "prefect")})  # on the full disk
    line = one_error_line_allowing_table(res)
    assert "disk" in line and "full" in line
    leftovers = [p for p in s.archive_dir.rglob("*") if p.name.startswith(".tmp-") or p.name.startswith("fetch-")]
    assert leftovers == []
    filler.unlink()
    with Store(s.db_path) as store:
        res = verify(store, Archive(s.archive_dir))
        assert res.ok and res.counts()["ok"] == 1 and store.chain_report().ok


# -- 7. kill -9 ------------------------------------------------------------------------------------------------

def test_kill_9_after_storing_an_original_leaves_nothing_after_the_next_sweep(settings, store, archive):
    from pipeline.preservation.sweep import sweep

    code = textwrap.dedent(f"""
        import os, signal, tempfile
        from pathlib import Path
        from pipeline.sources.fetch import fetch
        from pipeline.storage.files import Archive
        a = Archive(Path({str(settings.archive_dir)!r}))
        fetch({str(SAMPLES / 'evening-bulletin.mp4')!r}, a)        # the original is stored ...
        inc = a.root / "media" / ".incoming"; inc.mkdir(parents=True, exist_ok=True)
        tempfile.mkstemp(dir=inc, prefix=f".tmp-{{os.getpid()}}-")  # ... and a second copy is under way
        os.kill(os.getpid(), signal.SIGKILL)                          # ... when the machine dies
    """)
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True)
    assert r.returncode == -signal.SIGKILL
    [orphan] = list((archive.root / "media").glob("??/*"))
    assert list((archive.root / "media" / ".incoming").iterdir())
    rep = sweep(store, archive)  # right away: the temp file of the dead process goes; the orphan may be in use
    assert rep.removed and not list((archive.root / "media" / ".incoming").iterdir()) and orphan.exists()
    rep = sweep(store, archive, now=time.time() + 3600)
    assert rep.orphans == [orphan.relative_to(archive.root).as_posix()] and not orphan.exists()
    assert (archive.root / "orphans" / orphan.name).is_file()
    [ev] = [json.loads(e["detail"]) for e in store.events() if e["kind"] == "swept"]
    assert ev["path"] == rep.orphans[0]


def test_rerun_links_an_original_stored_before_a_crash(settings, store, archive):
    archive.store_media(SAMPLES / "evening-bulletin.mp4", "mp4")  # stored, never catalogued (kill -9)
    out = record_fetch(store, archive, fetch(str(SAMPLES / "evening-bulletin.mp4"), archive), None)
    from pipeline.preservation.sweep import sweep

    assert sweep(store, archive, now=time.time() + 3600).orphans == []
    assert verify(store, archive, [out.video_id]).ok


def test_prefect_temporary_server_dies_with_its_parent_and_telemetry_is_off(tmp_path):
    code = textwrap.dedent(f"""
        import os, sys, time
        from pipeline.config import Settings
        from flows import configure_prefect
        configure_prefect(Settings(data_dir={str(tmp_path / 'data')!r}))
        from prefect._internal.analytics.enabled import is_telemetry_enabled
        from prefect.server.api.server import SubprocessASGIServer
        srv = SubprocessASGIServer()
        srv.start()
        print(srv.server_process.pid, is_telemetry_enabled(), flush=True)
        time.sleep(600)
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DO_NOT_TRACK"))}
    parent = subprocess.Popen([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(REPO)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = parent.stdout.readline().split()
        assert line, parent.stderr.read()
        child, telemetry = int(line[0]), line[1]
        assert telemetry == "False"
        environ = dict(kv.split("=", 1) for kv in Path(f"/proc/{child}/environ").read_text().split("\0") if "=" in kv)
        assert environ["DO_NOT_TRACK"] == "1" and environ["PREFECT_SERVER_ANALYTICS_ENABLED"].lower() == "false"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.time() + 20
        while time.time() < deadline and _alive(child):
            time.sleep(0.2)
        assert not _alive(child), "Prefect's temporary server outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_telemetry_opt_in_is_respected(monkeypatch):
    from flows import disable_telemetry

    monkeypatch.delenv("DO_NOT_TRACK", raising=False)
    monkeypatch.setenv("CLIPWATCH_TELEMETRY", "1")
    disable_telemetry()
    assert "DO_NOT_TRACK" not in os.environ
    monkeypatch.setenv("CLIPWATCH_TELEMETRY", "0")
    disable_telemetry()
    assert os.environ["DO_NOT_TRACK"] == "1" and os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


# -- 8. audio-only media -----------------------------------------------------------------------------------------

def test_audio_only_media_are_first_class(prefect_harness, server, settings, fake_asr, tmp_path):
    from flows.ingest import ingest_flow
    from pipeline.media.probe import run_ffmpeg
    from pipeline.web import create_app

    mp3, cover = tmp_path / "track.mp3", tmp_path / "cover.jpg"
    run_ffmpeg(["-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v", "1", str(cover)])
    # An MP3 with embedded cover art (a one-picture "video" stream that is not a video).
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-i", str(cover), "-map", "0:a", "-map", "1:v",
                "-c:a", "libmp3lame", "-c:v", "mjpeg", "-disposition:v", "attached_pic", str(mp3)])
    server.routes["/media/track.mp3"] = __import__("pipeline.demo.loopback", fromlist=["Route"]).Route.file(mp3, "audio/mpeg")
    from pipeline.demo.loopback import Route, watch_page

    server.routes["/cover.jpg"] = Route.file(cover, "image/jpeg")
    server.routes["/watch/track.html"] = Route(body=watch_page("A state radio song", "", server.url("/media/track.mp3"),
                                                               thumbnail_url=server.url("/cover.jpg")))
    s = Settings(data_dir=settings.data_dir, model="tiny.en", translate=False, semantic=False)
    report = ingest_flow([server.url("/watch/track.html")], s)
    [v] = report.videos
    assert report.failed == 0 and v.stages["keyframes"] == "not-applicable" and v.stages["transcribe"] == "done", v
    assert "thumbnail" in v.messages["keyframes"]
    with TestClient(create_app(s), base_url="http://127.0.0.1") as client:
        page = client.get(f"/videos/{v.video_id}").text
        assert "<audio id=\"player\"" in page and "<video" not in page and "/thumbnail." in page


# -- 10. web hardening -------------------------------------------------------------------------------------------

def test_web_host_allowlist_head_and_offline_docs(shared, settings, monkeypatch):
    from pipeline.web import create_app

    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        assert client.get("/", headers={"Host": "evil.example"}).status_code == 400
        assert client.get("/", headers={"Host": "localhost:8000"}).status_code == 200
        assert client.get("/", headers={"Host": "[::1]:8000"}).status_code == 200
        get, head = client.get(f"/videos/{shared[0]}"), client.head(f"/videos/{shared[0]}")
        assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == get.headers["content-length"]
        assert client.head("/api/videos/nope").status_code == 404
        docs = client.get("/docs")
        assert docs.status_code == 200 and docs.headers["content-security-policy"].startswith("default-src 'self'")
        assert "cdn" not in docs.text.lower() and "http" not in docs.text.split("<body>")[1]
        assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
        assert client.get("/static/docs.js").status_code == 200
    monkeypatch.setenv("CLIPWATCH_ALLOWED_HOSTS", "archive.example.org")
    with TestClient(create_app(settings), base_url="http://archive.example.org") as client:
        assert client.get("/").status_code == 200


# -- upgrade in place ----------------------------------------------------------------------------------------------

def test_archive_from_the_previous_version_upgrades_in_place(tmp_path, data_dir):
    """archive-v1.tar.gz was written by commit a1acc0e (see fixtures/make_v1_archive.py)."""
    data = tmp_path / "old"
    with tarfile.open(FIXTURES / "archive-v1.tar.gz") as tar:
        tar.extractall(data, filter="data")
    for sample in SAMPLES.glob("*.mp4"):  # the originals, under their content addresses
        import hashlib

        sha = hashlib.sha256(sample.read_bytes()).hexdigest()
        dest = data / "archive" / "media" / sha[:2] / f"{sha}.mp4"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample, dest)
    old = sqlite3.connect(data / "clipwatch.db")
    old_events = old.execute("SELECT id, kind, video_id, detail FROM events ORDER BY id").fetchall()
    old_videos = old.execute("SELECT id, media_sha256 FROM videos ORDER BY id").fetchall()
    assert old.execute("SELECT count(*) FROM media_files").fetchone()[0] == 2  # 3 videos, 1 lost its row
    old.close()

    with Store(data / "clipwatch.db") as store:
        up = store.upgraded
        assert up["from"] == 1 and up["to"] == chain_version()
        assert (data / up["backup"]).is_file()
        assert [(e["id"], e["kind"], e["video_id"], e["detail"]) for e in store.events()
                if e["id"] <= len(old_events)] == old_events  # nothing lost
        assert [(v["id"], v["media_sha256"]) for v in sorted(store.all_videos(), key=lambda v: v["id"])] == old_videos
        assert store.events()[-1]["kind"] == "upgraded"
        assert sorted(r["video_id"] for r in store.media_fetches()) == [v for v, _ in old_videos]
        assert store.chain_report().ok
        res = verify(store, Archive(data / "archive"))
        assert res.ok and res.counts()["ok"] == 3, [p.message for p in res.problems]
        assert verify(store, Archive(data / "archive")).ok  # and again, against the manifests it started
    with Store(data / "clipwatch.db") as store:
        assert store.upgraded is None  # once
    res = cli(data, "verify", "--all")
    assert res.returncode == 0 and "3 verified" in res.stdout, res.stderr
    copy = json.loads(cli(data, "show", "generic-bulletin-copy-59b4f6", "--json").stdout)
    assert copy["media"]["video_id"] == "generic-bulletin-copy-59b4f6" and "bulletin-copy" in copy["media"]["source_url"]


def chain_version() -> int:
    from pipeline.storage.sqlite.migrations import LATEST

    return LATEST
