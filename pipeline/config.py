"""Settings from environment variables (CLIPWATCH_*) with local defaults: data only, a leaf every room may import.

Everything lives under one data directory so an archive can be moved, backed up
or handed over as a folder: ``archive/`` (media and per-video folders),
``clipwatch.db`` (SQLite), ``prefect/`` (Prefect's local state), ``models/``
(converted or joined model files). What the settings open is elsewhere: ``pipeline.storage.base.catalogue_for`` and
``blob_store_for``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import ConfigError

DEFAULT_MODEL = "base"
DEFAULT_ENGINE = "faster-whisper"
# The names settings may hold. The implementations are registered where they live (``pipeline.asr.base.ENGINES``,
# ``pipeline.translate.base.TRANSLATORS``); config only names them, so it stays a leaf that every room can import
# (tests/architecture/test_house.py checks that both lists agree).
ENGINE_NAMES = ("faster-whisper", "openai-whisper")
DEVICES = ("auto", "cpu", "cuda")
TRANSLATOR_KINDS = ("whisper", "ct2")
DEFAULT_TRANSLATOR = "whisper"


def parse_translator(spec: str) -> tuple[str, str | None]:
    """Read a translator spec (``--translator`` / ``CLIPWATCH_TRANSLATOR``).

    Arguments:
        spec: ``whisper`` or ``ct2:NAME``.

    Returns:
        ("whisper", None) or ("ct2", NAME); ConfigError for anything else.
    """
    kind, sep, model = (spec or "").strip().partition(":")
    if kind not in TRANSLATOR_KINDS or (kind == "whisper" and sep) or (kind != "whisper" and not model.strip()):
        raise ConfigError(f"unknown translator {spec!r} (--translator / CLIPWATCH_TRANSLATOR); choose whisper or "
                          "ct2:NAME with NAME a translation model from `clipwatch models pull` (opus-mt-ko-en, "
                          "nllb-200-distilled-600M) or a CTranslate2 translation model folder")
    return kind, (model.strip() or None)


def env_int(name: str, default: int | None, minimum: int, meaning: str = "") -> int | None:
    """A whole-number setting from the environment variable ``name``.

    Arguments:
        name: the variable (``CLIPWATCH_...``).
        default: the value when it is unset or blank.
        minimum: the smallest value it may hold.
        meaning: what a value means, for the error ("0: the sequential decoder").

    Returns:
        The number, or ``default``. ConfigError, naming the variable, for anything but a whole number >= minimum.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"{name}={raw!r}: use a whole number, {minimum} or more"
                          + (f" ({meaning})" if meaning else ""))
    return value


def _default_data_dir() -> Path:
    return Path(os.environ.get("CLIPWATCH_DATA", "data"))


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=_default_data_dir)
    model: str = field(default_factory=lambda: os.environ.get("CLIPWATCH_MODEL", DEFAULT_MODEL))
    engine: str = field(default_factory=lambda: os.environ.get("CLIPWATCH_ENGINE", DEFAULT_ENGINE))
    # Translate non-English speech to English beside the original transcript.
    translate: bool = field(default_factory=lambda: os.environ.get("CLIPWATCH_TRANSLATE", "1") != "0")
    # What translates: "whisper" (its translate task, over the audio) or "ct2:NAME" (a CTranslate2 text-translation
    # model from `clipwatch models pull NAME`, over the transcript's text).
    translator: str = field(default_factory=lambda: os.environ.get("CLIPWATCH_TRANSLATOR", DEFAULT_TRANSLATOR))
    # Embed transcript segments after each ingest for --semantic/--hybrid search.
    semantic: bool = field(default_factory=lambda: os.environ.get("CLIPWATCH_SEMANTIC", "1") != "0")
    # Fetch the platform's comments with each video (`ingest --comments`; per channel: `comments = true`; issue 23).
    comments: bool = field(default_factory=lambda: os.environ.get("CLIPWATCH_COMMENTS", "0") == "1")
    # Where faster-whisper runs: auto (a CUDA GPU when CTranslate2 sees one, else CPU), cpu or cuda.
    device: str = field(default_factory=lambda: os.environ.get("CLIPWATCH_DEVICE", "auto"))
    # Speech chunks faster-whisper decodes at once (CLIPWATCH_WHISPER_CHUNKS; None: 1 on a CPU, 16 on a GPU; 0: the
    # sequential decoder). 2 on a CPU is faster for more memory (README, "How Whisper decodes").
    whisper_chunks: int | None = field(
        default_factory=lambda: env_int("CLIPWATCH_WHISPER_CHUNKS", None, 0, "0: the sequential decoder"))
    # Scale out: the catalogue on PostgreSQL (postgresql://user:password@host/db) instead of clipwatch.db.
    database_url: str | None = field(default_factory=lambda: os.environ.get("CLIPWATCH_DATABASE_URL") or None)
    # Scale out: originals on an object store (s3://bucket/prefix) instead of archive/ (None: the local folder).
    storage_url: str | None = field(default_factory=lambda: os.environ.get("CLIPWATCH_STORAGE_URL") or None)
    # Optional stages to leave out of this run (by stage name, e.g. "ocr"): a live recorder sheds them when its
    # backlog grows (issue 25); a shed stage is "skipped" and runs on the next reprocess.
    shed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().resolve())
        if self.engine not in ENGINE_NAMES:
            raise ConfigError(f"unknown engine {self.engine!r}; choose one of: {', '.join(ENGINE_NAMES)}")
        object.__setattr__(self, "translator", self.translator.strip())
        parse_translator(self.translator)
        if self.device not in DEVICES:
            raise ConfigError(f"unknown device {self.device!r} (CLIPWATCH_DEVICE / --device); choose one of: "
                              f"{', '.join(DEVICES)}")

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "clipwatch.db"

    @property
    def prefect_home(self) -> Path:
        return self.data_dir / "prefect"

    @property
    def models_dir(self) -> Path:
        """Where joined or converted model files are cached (never downloaded)."""
        env = os.environ.get("CLIPWATCH_MODELS")
        return Path(env).expanduser().resolve() if env else self.data_dir / "models"

    def check_data_dir(self) -> None:
        """A clear error when --data-dir names something that is not a folder."""
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise ConfigError(f"--data-dir {self.data_dir} is a file, not a folder; pass the archive's folder "
                              "(the one holding clipwatch.db)")

    def ensure_dirs(self) -> None:
        self.check_data_dir()
        try:
            self.archive_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create data directory {self.data_dir}: {exc.strerror}") from exc


def package_data() -> Path:
    """The package's own data folder (channel registry, lexicon, weights, samples): works from any install."""
    return Path(__file__).resolve().parent / "data"


def samples_dir() -> Path:
    """Bundled sample clips used by `clipwatch demo` and the tests."""
    return package_data() / "samples"


def channel_registry_path() -> Path:
    env = os.environ.get("CLIPWATCH_CHANNELS")
    return Path(env) if env else package_data() / "channels.toml"
