"""`clipwatch models pull NAME`: installing a model from the Hugging Face hub, verified, into the model cache.

The packaged models (tiny.en, base) come with the install; bigger ones (small … large-v3, large-v3-turbo, the
distil variants: ``pipeline.models.whisper.HUB_MODELS``) and the translation models
(``pipeline.models.translation``) are pulled once, on request, through ``huggingface_hub`` — never at
transcription time. This module is the installing both share (``install``); the hub's own variables hold: ``HF_ENDPOINT`` (a mirror or a local hub), ``HF_HUB_OFFLINE`` (no network: only what is
already in the cache), ``HF_TOKEN``.

A pull downloads into a temporary folder beside the cache, checks every file against the size and hash the hub
lists for it (SHA-256 for LFS files, the git blob id for small ones), checks that the folder is a complete
model of the kind asked for, writes a manifest, then renames the folder into ``<models_dir>/hub/<name>``: the cache holds
the old model or the new one, never a partial one.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline.errors import ModelError
from pipeline.storage.files import CHUNK, atomic_write, fsync_dir

MANIFEST = "clipwatch-source.json"
DEFAULT_ENDPOINT = "https://huggingface.co"


@dataclass
class PulledModel:
    name: str
    repo_id: str
    commit: str | None
    path: Path
    files: dict[str, dict] = field(default_factory=dict)  # name -> {size, sha256 | git_sha1}
    downloaded: bool = True  # False when the cache already held this commit

    @property
    def size(self) -> int:
        return sum(int(f["size"]) for f in self.files.values())


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _git_blob_sha1(path: Path) -> str:
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _http_errors() -> tuple[type[Exception], ...]:
    """The HTTP client's own errors (connection refused, timeouts): huggingface_hub 1.x uses httpx, 2.x httpx2."""
    out = []
    for module in ("httpx2", "httpx"):
        try:
            out.append(importlib.import_module(module).HTTPError)
        except (ImportError, AttributeError):
            pass
    return tuple(out)


def _hub_error(exc: Exception, repo_id: str, endpoint: str) -> ModelError:
    # only when a model is pulled
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, GatedRepoError):
        return ModelError(f"{repo_id} on {endpoint} needs an accepted licence and a token (HF_TOKEN)")
    if isinstance(exc, RepositoryNotFoundError):
        return ModelError(f"{repo_id} is not on {endpoint}; check the model name and HF_ENDPOINT")
    if isinstance(exc, RevisionNotFoundError):
        return ModelError(f"{repo_id} on {endpoint} has no such revision; check --revision")
    if isinstance(exc, (OfflineModeIsEnabled, LocalEntryNotFoundError)):
        return ModelError(f"cannot reach {endpoint} for {repo_id} ({type(exc).__name__}); check HF_ENDPOINT, the "
                          "network, or HF_HUB_OFFLINE")
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 404:
            return ModelError(f"{repo_id} is not on {endpoint}; check the model name and HF_ENDPOINT")
        return ModelError(f"{endpoint} answered {status or 'an error'} for {repo_id}; try again later or check "
                          "HF_ENDPOINT")
    return ModelError(f"cannot reach {endpoint} for {repo_id} ({type(exc).__name__}: {exc}); check HF_ENDPOINT "
                      "and the network")


def _complete(folder: Path, check: Callable[[Path], object]) -> bool:
    if not (folder / MANIFEST).is_file():
        return False
    try:
        check(folder)
    except ModelError:
        return False
    return True


def install(name: str, repo_id: str, hub_dir: Path, *, patterns: tuple[str, ...], required: tuple[str, ...], what: str,
            check: Callable[[Path], object], prepare: Callable[[Path, Path], bool] | None = None,
            before_download: Callable[[list[str]], None] | None = None, revision: str | None = None,
            endpoint: str | None = None, force: bool = False,
            progress: Callable[[str, int, int], None] | None = None) -> PulledModel:
    """Download the files of ``repo_id`` that match ``patterns`` into a temporary folder beside ``hub_dir/name``,
    verify each against the hub's size and hash, let ``prepare(downloaded, out)`` put the installed form in ``out``
    (True when it converted; None: install as downloaded), ``check`` the result, write the manifest and rename it into place.

    ``before_download(files)`` may refuse (ModelError) before anything is fetched: a conversion that needs a package
    that is not installed says so before hundreds of megabytes come down.
    """
    from huggingface_hub import HfApi, hf_hub_download  # only when a model is pulled
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    hub_dir = Path(hub_dir)  # apart from the packaged models' joined copies
    dest = hub_dir / name
    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    existing = dest if _complete(dest, check) else None
    manifest: dict[str, Any] = json.loads((existing / MANIFEST).read_text()) if existing else {}

    if _truthy(os.environ.get("HF_HUB_OFFLINE")):
        if existing and not force:
            check(existing)
            return PulledModel(name, repo_id, manifest.get("commit"), existing, manifest.get("files", {}), False)
        raise ModelError(f"HF_HUB_OFFLINE is set and {name} is not in the model cache ({dest}); unset HF_HUB_OFFLINE "
                         f"to pull it, or copy a CTranslate2 model folder there")

    transient: tuple[type[Exception], ...] = (HfHubHTTPError, OfflineModeIsEnabled, LocalEntryNotFoundError, OSError, *_http_errors())
    api = HfApi(endpoint=endpoint)
    try:
        info = api.model_info(repo_id, revision=revision, files_metadata=True, timeout=30)
    except transient as exc:
        raise _hub_error(exc, repo_id, endpoint) from None
    listed = {s.rfilename: s for s in (info.siblings or [])
              if any(fnmatch.fnmatch(s.rfilename, p) for p in patterns)}
    missing = [f for f in required if f not in listed]
    if missing:
        raise ModelError(f"{repo_id} on {endpoint} is not a {what} (no {', '.join(missing)})")
    if existing and not force and manifest.get("commit") == info.sha and manifest.get("repo_id") == repo_id:
        return PulledModel(name, repo_id, info.sha, existing, manifest.get("files", {}), False)
    if before_download is not None:
        before_download(sorted(listed))

    hub_dir.mkdir(parents=True, exist_ok=True)
    tmp = hub_dir / f".tmp-pull-{name}-{uuid.uuid4().hex[:8]}"
    converted = hub_dir / f".tmp-convert-{name}-{uuid.uuid4().hex[:8]}"
    try:
        files: dict[str, dict] = {}
        total = sum(int(s.size or 0) for s in listed.values())
        done = 0
        for fname, sib in sorted(listed.items()):
            try:
                got = Path(hf_hub_download(repo_id, fname, revision=info.sha, local_dir=tmp, endpoint=endpoint,
                                           etag_timeout=30))
            except transient as exc:
                raise _hub_error(exc, repo_id, endpoint) from None
            size = got.stat().st_size
            if sib.size is not None and size != sib.size:
                raise ModelError(f"{repo_id}/{fname}: got {size:,} bytes, the hub lists {sib.size:,}; try again")
            record: dict = {"size": size}
            if sib.lfs is not None:
                actual = _sha256(got)
                if actual != sib.lfs.sha256:
                    raise ModelError(f"{repo_id}/{fname}: SHA-256 {actual[:16]}… differs from the hub's "
                                     f"{sib.lfs.sha256[:16]}…; the download is damaged, try again")
                record["sha256"] = actual
            elif sib.blob_id:
                actual = _git_blob_sha1(got)
                if actual != sib.blob_id:
                    raise ModelError(f"{repo_id}/{fname}: git blob id {actual[:12]}… differs from the hub's "
                                     f"{sib.blob_id[:12]}…; the download is damaged, try again")
                record["git_sha1"] = actual
            else:
                raise ModelError(f"{repo_id}/{fname}: the hub lists no hash for it, so it cannot be verified")
            files[fname] = record
            done += size
            if progress:
                progress(fname, done, total)
        shutil.rmtree(tmp / ".cache", ignore_errors=True)  # huggingface_hub's own bookkeeping
        ready, was_converted = tmp, False
        if prepare is not None:
            was_converted = bool(prepare(tmp, converted))
            ready = converted
        check(ready)
        for p in ready.iterdir():
            if p.is_file():
                with open(p, "rb") as fh:
                    os.fsync(fh.fileno())
        atomic_write(ready / MANIFEST, lambda fh: fh.write(json.dumps(
            {"repo_id": repo_id, "commit": info.sha, "endpoint": endpoint, "files": files,
             "converted": was_converted}, indent=1).encode()))
        old = None
        if dest.exists():
            old = hub_dir / f".old-{name}-{uuid.uuid4().hex[:8]}"
            os.replace(dest, old)
        os.replace(ready, dest)
        fsync_dir(hub_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(converted, ignore_errors=True)
    return PulledModel(name, repo_id, info.sha, dest, files, True)
