"""Translation models for ``--translator ct2:NAME``: names -> CTranslate2 folders, pulled once from the hub.

``clipwatch models pull NAME`` fetches a model through the same verified, atomic installer as the Whisper models
(:func:`pipeline.models.hub.install`) into ``<models_dir>/hub/NAME``. A repository that already ships a CTranslate2
conversion is installed as it comes; one that ships Marian (OPUS-MT ``model.npz``) or PyTorch weights is converted
with CTranslate2's own converter on the way in (PyTorch weights need the ``transformers`` package for that, and the
pull says so before downloading anything).

A model folder holds ``model.bin`` + ``config.json`` + the vocabulary CTranslate2 wrote, and the SentencePiece model
that cuts text into its tokens: ``source.spm``/``target.spm`` (Marian, OPUS-MT) or ``sentencepiece.bpe.model``
(NLLB). Any such local folder also works: ``--translator ct2:/path/to/folder``.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.errors import ModelError
from pipeline.models import ct2_convert, hub


@dataclass(frozen=True)
class TranslationModel:
    name: str
    repo_id: str
    sources: tuple[str, ...]  # ISO 639-1 codes it reads (empty: the NLLB language table below)
    note: str


# Real hub repositories (checked on huggingface.co): OPUS-MT ko-en ships PyTorch Marian weights (converted at pull);
# the NLLB one is a CTranslate2 int8 conversion of facebook/nllb-200-distilled-600M with its SentencePiece model.
TRANSLATION_MODELS: dict[str, TranslationModel] = {
    "opus-mt-ko-en": TranslationModel("opus-mt-ko-en", "Helsinki-NLP/opus-mt-ko-en", ("ko",),
                                      "Korean to English, 300 MB, Apache-2.0; converted with CTranslate2 at pull"),
    "nllb-200-distilled-600M": TranslationModel("nllb-200-distilled-600M", "skywood/nllb-200-distilled-600M-ct2-int8",
                                                (), "200 languages to English, 620 MB int8, CC-BY-NC-4.0"),
}
# What a pull takes from a repository: a CTranslate2 model, or the weights a converter reads, and the tokenizers.
PATTERNS = ("model.bin", "config.json", "shared_vocabulary.*", "source_vocabulary.*", "target_vocabulary.*",
            "source.spm", "target.spm", "sentencepiece.bpe.model", "vocab.json", "tokenizer_config.json",
            "special_tokens_map.json", "generation_config.json", "pytorch_model.bin", "model.safetensors",
            "decoder.yml", "*.npz", "*.yml")
REQUIRED: tuple[str, ...] = ()  # which files are needed depends on the form (see _form)
SPM_FILES = ("source.spm", "target.spm", "sentencepiece.bpe.model")

# Whisper's language codes -> NLLB's (the languages of the archive's sources; extend as needed).
NLLB_CODES = {"ko": "kor_Hang", "en": "eng_Latn", "ja": "jpn_Jpan", "zh": "zho_Hans", "ru": "rus_Cyrl",
              "fr": "fra_Latn", "de": "deu_Latn", "es": "spa_Latn", "ar": "arb_Arab", "vi": "vie_Latn"}


@dataclass(frozen=True)
class TranslationFolder:
    path: Path
    family: str  # "marian" (source.spm/target.spm) or "nllb" (sentencepiece.bpe.model, language tokens)
    source_spm: Path
    target_spm: Path


def describe(path: str | Path) -> TranslationFolder:
    """Check a folder is a CTranslate2 translation model with its SentencePiece model; ModelError otherwise."""
    path = Path(path)
    if not (path / "model.bin").is_file() or not (path / "config.json").is_file():
        raise ModelError(f"{path}: not a CTranslate2 translation model (needs model.bin and config.json)")
    spec = ct2_convert.read_header(path / "model.bin").spec
    if spec.startswith("Whisper"):
        raise ModelError(f"{path}: holds a Whisper model, not a translation model; use it with --model")
    if (path / "source.spm").is_file() and (path / "target.spm").is_file():
        return TranslationFolder(path, "marian", path / "source.spm", path / "target.spm")
    if (path / "sentencepiece.bpe.model").is_file():
        return TranslationFolder(path, "nllb", path / "sentencepiece.bpe.model", path / "sentencepiece.bpe.model")
    raise ModelError(f"{path}: no SentencePiece model beside model.bin (source.spm + target.spm, or "
                     "sentencepiece.bpe.model); copy the one the model was trained with there")


def pulled_dir(name: str, models_dir: Path) -> Path | None:
    d = Path(models_dir) / "hub" / name
    return d if name in TRANSLATION_MODELS and (d / hub.MANIFEST).is_file() and (d / "model.bin").is_file() else None


def resolve(model: str, models_dir: Path) -> TranslationFolder:
    """The folder of ``ct2:NAME``: a pulled model, or a local CTranslate2 translation model folder."""
    pulled = pulled_dir(model, models_dir)
    if pulled is not None:
        return describe(pulled)
    if model in TRANSLATION_MODELS:
        raise ModelError(f"translation model {model!r} is not in the model cache: run `clipwatch models pull {model}` "
                         "first, or use --translator whisper")
    p = Path(model).expanduser()
    if p.is_dir():
        return describe(p.resolve())
    raise ModelError(f"unknown translation model {model!r}: choose one of {', '.join(TRANSLATION_MODELS)} (pull it "
                     "with `clipwatch models pull NAME`) or give a CTranslate2 translation model folder")


def sources(model: str) -> tuple[str, ...] | None:
    """The languages a named model reads; None when it is not known (a local folder)."""
    m = TRANSLATION_MODELS.get(model)
    return m.sources if m is not None else None


# -- pulling ---------------------------------------------------------------------------------------------------

def _form(files: list[str]) -> str:
    names = set(files)
    if "model.bin" in names:
        return "ctranslate2"
    if "decoder.yml" in names and any(f.endswith(".npz") for f in names):
        return "marian"
    if names & {"pytorch_model.bin", "model.safetensors"}:
        return "transformers"
    return "unknown"


def _needs(form: str, repo_id: str) -> None:
    if form == "unknown":
        raise ModelError(f"{repo_id} holds no CTranslate2 model, Marian model.npz or PyTorch weights to translate with")
    if form == "transformers" and importlib.util.find_spec("transformers") is None:
        raise ModelError(f"{repo_id} ships PyTorch weights; converting them to CTranslate2 needs the transformers "
                         "package: pip install 'transformers>=4.40' (it uses the torch already installed), then pull "
                         "again — or pull nllb-200-distilled-600M, which comes converted")


def _convert(repo_id: str) -> Callable[[Path, Path], bool]:
    def prepare(downloaded: Path, out: Path) -> bool:
        files = [p.name for p in downloaded.iterdir()]
        form = _form(files)
        _needs(form, repo_id)
        if form == "ctranslate2":
            downloaded.rename(out)
            return False
        # heavy (~0.5 s): only when a model runs
        from ctranslate2.converters import OpusMTConverter, TransformersConverter

        try:
            if form == "marian":
                OpusMTConverter(str(downloaded)).convert(str(out), force=True)
            else:
                TransformersConverter(str(downloaded)).convert(str(out), force=True)
        except Exception as exc:  # noqa: BLE001 -- the converter's own errors vary by model type
            raise ModelError(f"{repo_id}: CTranslate2 could not convert it ({type(exc).__name__}: {exc})") from None
        for name in SPM_FILES:
            if (downloaded / name).is_file():
                shutil.copyfile(downloaded / name, out / name)
        return True

    return prepare


def pull(name: str, models_dir: Path, *, revision: str | None = None, endpoint: str | None = None,
         force: bool = False, progress: Callable[[str, int, int], None] | None = None):
    """Download, verify, convert if need be, and install a translation model into ``<models_dir>/hub/<name>``."""
    if name not in TRANSLATION_MODELS:
        raise ModelError(f"unknown translation model {name!r} for `models pull`; choose one of: "
                         f"{', '.join(TRANSLATION_MODELS)}")
    repo_id = TRANSLATION_MODELS[name].repo_id
    return hub.install(name, repo_id, Path(models_dir) / "hub", patterns=PATTERNS, required=REQUIRED,
                       what="translation model", check=describe, prepare=_convert(repo_id),
                       before_download=lambda files: _needs(_form(files), repo_id),
                       revision=revision, endpoint=endpoint, force=force, progress=progress)
