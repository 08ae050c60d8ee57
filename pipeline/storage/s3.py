"""Originals on an S3-compatible object store (AWS S3, MinIO, Ceph RGW, Garage…): ``s3://bucket/prefix``.

Keys are the archive's relative paths under the prefix, so an original lives at
``<prefix>/media/ab/<sha256>.<ext>`` exactly as on disk, and a folder archive can be copied into a bucket as it is.
The endpoint comes from ``AWS_ENDPOINT_URL`` (boto3 reads it), credentials from the usual AWS variables or files.

An upload is verified before ``store_media`` returns, so the catalogue never points at an object that is not there
or holds other bytes: the local file is hashed, uploaded with its SHA-256 as object metadata (and a transport
checksum that the store checks), then the store is asked for the object's checksum; a store that keeps none
(moto, some gateways) has the object read back and hashed. A mismatch deletes the object and raises.

Stages that decode media need a local file: ``abspath("media/…")`` downloads the original once into a local cache
(``CLIPWATCH_S3_CACHE``, default ``$CLIPWATCH_DATA/s3-cache``), checks it against the SHA-256 in its name and renames
it into place. Per-video folders (keyframes, transcripts) are written under the same local root.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, cast
from urllib.parse import urlsplit

from pipeline.config import env_int
from pipeline.errors import ConfigError, StorageError
from pipeline.storage.files import CHUNK, StoredFile, atomic_write, safe_name, sha256_file, sha256_stream

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str | None      # from the object's metadata, when it was uploaded by clipwatch
    checksum_sha256: str | None  # the store's own checksum (base64), when it keeps one


def _timeout() -> float:
    try:
        return float(os.environ.get("CLIPWATCH_S3_TIMEOUT", "30"))
    except ValueError:
        raise ConfigError("CLIPWATCH_S3_TIMEOUT must be a number of seconds") from None


def _default_cache(bucket: str, prefix: str) -> Path:
    env = os.environ.get("CLIPWATCH_S3_CACHE")
    base = Path(env) if env else Path(os.environ.get("CLIPWATCH_DATA", "data")) / "s3-cache"
    return (base.expanduser() / safe_name(bucket) / prefix).resolve()


class S3Store:
    """A blob store on S3. ``S3Store("s3://bucket/prefix")``; endpoint and credentials from the environment."""

    def __init__(self, url: str, *, cache_dir: Path | None = None, client: Any = None):
        parts = urlsplit(str(url))
        if parts.scheme != "s3" or not parts.netloc:
            raise ConfigError(f"storage URL {url!r} is not s3://bucket[/prefix]")
        self.url = str(url)
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.root = Path(cache_dir).resolve() if cache_dir else _default_cache(self.bucket, self.prefix)
        self._client = client
        self._bucket_ok = False
        self.endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3")

    # -- the client and its errors ------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3  # type: ignore[import-untyped]
                from botocore.config import Config  # type: ignore[import-untyped]
            except ImportError as exc:  # pragma: no cover - the scale extra is missing
                raise ConfigError("S3 storage needs boto3: pip install 'clipwatch[scale]'") from exc
            t = _timeout()
            self._client = boto3.client("s3", config=Config(
                connect_timeout=t, read_timeout=t,
                # standard mode retries throttling, 5xx and dropped connections with backoff
                retries={"max_attempts": env_int("CLIPWATCH_S3_RETRIES", 3, 0), "mode": "standard"},
                s3={"addressing_style": "path"} if self.endpoint else None,
            ))
        return self._client

    def _where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" + (f" at {self.endpoint}" if self.endpoint else "")

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn boto3's exceptions into one StorageError that says what to check."""
        from botocore.exceptions import (  # type: ignore[import-untyped]
            BotoCoreError,
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        try:
            yield
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket":
                raise StorageError(f"{doing}: bucket {self.bucket!r} does not exist on {self.endpoint or 'S3'}; "
                                   "create it or fix CLIPWATCH_STORAGE_URL") from None
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403") or status == 403:
                raise StorageError(f"{doing}: {self._where()} refused access ({code}); check the AWS credentials "
                                   "and the bucket policy") from None
            raise StorageError(f"{doing}: {self._where()} answered {code or status}: "
                               f"{err.get('Message') or exc}") from None
        except NoCredentialsError:
            raise StorageError(f"{doing}: no AWS credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                               "(or a profile)") from None
        except (ConnectTimeoutError, ReadTimeoutError) as exc:
            raise StorageError(f"{doing}: {self._where()} timed out after retries ({type(exc).__name__}); check "
                               "AWS_ENDPOINT_URL and the network, or raise CLIPWATCH_S3_TIMEOUT") from None
        except (EndpointConnectionError, ConnectionClosedError) as exc:
            raise StorageError(f"{doing}: cannot reach {self._where()} ({type(exc).__name__}); check "
                               "AWS_ENDPOINT_URL and that the object store is running") from None
        except BotoCoreError as exc:
            raise StorageError(f"{doing}: {self._where()}: {exc}") from None

    # -- keys and local paths ------------------------------------------------------
    def key(self, rel: str | Path) -> str:
        rel = Path(rel).as_posix().lstrip("/")
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def abspath(self, rel: str | Path) -> Path:
        """A local path for ``rel``: originals are fetched into the cache (verified) on first use."""
        path = self.root / rel
        rel_s = Path(rel).as_posix()
        if rel_s.startswith("media/") and not path.is_file() and self.exists(rel_s):
            self._download(rel_s, path)
        return path

    def relpath(self, path: Path) -> str:
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()

    def video_dir(self, video_id: str) -> Path:
        return self.root / "videos" / safe_name(video_id, 120)

    # -- reading --------------------------------------------------------------------
    def head(self, rel: str | Path) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        key = self.key(rel)
        with self._errors(f"checking {key}"):
            try:
                r = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    # HEAD has no body: a missing bucket also answers 404. Tell the two apart once, so a missing
                    # bucket is an error and not every object "missing".
                    self.check()
                    return None
                raise
        meta = {k.lower(): v for k, v in (r.get("Metadata") or {}).items()}
        return ObjectInfo(key=key, size=int(r["ContentLength"]), sha256=meta.get("sha256"),
                          checksum_sha256=r.get("ChecksumSHA256"))

    def exists(self, rel: str | Path) -> bool:
        if (self.root / rel).is_file() and not Path(rel).as_posix().startswith("media/"):
            return True  # a derivative in the local folder
        return self.head(rel) is not None

    def open(self, rel: str | Path) -> BinaryIO:
        """The object's bytes as a stream (for hashing and serving without a local copy)."""
        local = self.root / rel
        if not Path(rel).as_posix().startswith("media/") and local.is_file():
            return open(local, "rb")
        key = self.key(rel)
        with self._errors(f"reading {key}"):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return cast(BinaryIO, _ErrorTranslatingStream(body, self, f"reading {key}"))  # a file-like reader

    def open_stored(self, rel: str | Path) -> BinaryIO:
        """The object's bytes from the store itself, never the local cache: what `verify` hashes (a cached copy
        on this machine says nothing about what every other machine reads)."""
        key = self.key(rel)
        with self._errors(f"reading {key}"):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return cast(BinaryIO, _ErrorTranslatingStream(body, self, f"reading {key}"))  # a file-like reader

    def list_folder(self, rel: str | Path) -> list[str]:
        """The names (relative to ``rel``) of the objects stored under a folder, as the store lists them."""
        rel_s = Path(rel).as_posix().strip("/")
        prefix = self.key(rel_s) + "/"
        with self._errors(f"listing {prefix}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            return sorted(o["Key"][len(prefix):] for page in pages for o in page.get("Contents", []))

    def open_range(self, rel: str | Path, start: int, end: int) -> tuple[BinaryIO, int]:
        """Bytes start..end (inclusive) of an object and the object's total size: for HTTP Range requests."""
        key = self.key(rel)
        with self._errors(f"reading {key}"):
            r = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end}")
        total = int(str(r.get("ContentRange", "")).rpartition("/")[2] or r["ContentLength"])
        return cast(BinaryIO, _ErrorTranslatingStream(r["Body"], self, f"reading {key}")), total

    def sha256_of(self, rel: str | Path, progress: Callable[[int], None] | None = None) -> tuple[str, int]:
        """Stream an object through SHA-256 in constant memory: (hex digest, size)."""
        with self.open(rel) as f:
            return sha256_stream(f, progress)

    def _download(self, rel: str, dest: Path) -> None:
        expected = Path(rel).stem
        def write(out: BinaryIO) -> None:
            h = hashlib.sha256()
            with self.open(rel) as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            if _HEX64.fullmatch(expected) and h.hexdigest() != expected:
                raise StorageError(f"{self.key(rel)}: the object's SHA-256 {h.hexdigest()[:16]}… differs from its "
                                   f"name; run `clipwatch verify` (the stored original is corrupt)")
        atomic_write(dest, write)

    def push_folder(self, rel: str | Path) -> int:
        """Upload the files of a local video folder that the store lacks or holds other bytes of (each upload
        verified); returns how many were uploaded. Called when a video's manifest is recorded."""
        rel_s = Path(rel).as_posix().strip("/")
        folder = self.root / rel_s
        sent = 0
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.is_symlink() or not path.is_file() or path.name.startswith(".tmp-"):
                continue
            name = f"{rel_s}/{path.relative_to(folder).as_posix()}"
            info = self.head(name)
            if info is None or info.size != path.stat().st_size or info.sha256 != sha256_file(path):
                self.put_file(path, name)
                sent += 1
        return sent

    def fetch_folder(self, rel: str | Path) -> Path:
        """A video folder in the local cache, with the objects under it that are not there yet (written by another
        worker, or by `clipwatch migrate`): `verify` then holds them against the video's manifest. Files already in
        the folder are this machine's own and are kept as they are."""
        rel_s = Path(rel).as_posix().strip("/")
        folder = self.root / rel_s
        prefix = self.key(rel_s) + "/"
        with self._errors(f"listing {prefix}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            names = [o["Key"][len(prefix):] for page in pages for o in page.get("Contents", [])]
        for name in names:
            if not name or name.startswith("/") or ".." in Path(name).parts:
                continue  # never outside the folder
            if not (folder / name).exists():
                self._download(f"{rel_s}/{name}", folder / name)
        return folder

    def fetch_file(self, rel: str | Path) -> Path:
        """The store's copy of one derivative, downloaded over the local cache's (which another machine's newer
        write has made stale); the local path."""
        rel_s = Path(rel).as_posix().strip("/")
        dest = self.root / rel_s
        if self.head(rel_s) is None:
            return dest
        key = self.key(rel_s)

        def write(out: BinaryIO) -> None:
            # Straight from the store: ``open`` would hand back the stale local copy.
            with self._errors(f"reading {key}"):
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            with _ErrorTranslatingStream(body, self, f"reading {key}") as f:
                while chunk := f.read(CHUNK):
                    out.write(chunk)
        atomic_write(dest, write)
        return dest

    # -- writing ----------------------------------------------------------------------
    def store_media(self, src: Path, ext: str, move: bool = False) -> StoredFile:
        """Upload a finished download under its content address; returns after the object is verified."""
        src = Path(src)
        ext = re.sub(r"[^a-z0-9]", "", ext.lower())[:8] or "bin"
        sha = sha256_file(src)
        size = src.stat().st_size
        rel = f"media/{sha[:2]}/{sha}.{ext}"
        info = self.head(rel)
        if not (info and info.size == size and info.sha256 == sha):
            single = self._upload(src, rel, sha)
            self._verify_upload(rel, sha, size, trust_checksum=single)
        if move:
            src.unlink(missing_ok=True)
        return StoredFile(sha256=sha, size=size, path=rel)

    def _upload(self, src: Path, rel: str, sha: str) -> bool:
        """Upload under ``rel``; True for a single PUT (the store's checksum is then of the whole object)."""
        key = self.key(rel)
        extra = {"Metadata": {"sha256": sha}, "ContentType": _content_type(rel)}
        with self._errors(f"uploading {key}"):
            if src.stat().st_size < 8 << 20:
                data = src.read_bytes()
                # The store recomputes this checksum and rejects a body damaged in transit (BadDigest).
                self.client.put_object(Bucket=self.bucket, Key=key, Body=data,
                                       ChecksumSHA256=base64.b64encode(hashlib.sha256(data).digest()).decode(), **extra)
                return True
            # multipart, each part with its own checksum (checked by the store as it arrives)
            self.client.upload_file(str(src), self.bucket, key, ExtraArgs={**extra, "ChecksumAlgorithm": "SHA256"})
            return False

    def _verify_upload(self, rel: str, sha: str, size: int, *, trust_checksum: bool = True) -> None:
        info = self.head(rel)
        problem = None
        if info is None:
            problem = "is not there after the upload"
        elif info.size != size:
            problem = f"has {info.size:,} bytes, expected {size:,}"
        elif trust_checksum and info.checksum_sha256 and "-" not in info.checksum_sha256:
            if base64.b64decode(info.checksum_sha256).hex() != sha:
                problem = "has another SHA-256 checksum in the store"
        else:  # a multipart object's checksum is of its parts, or the store keeps none: read the object back
            actual, _ = self.sha256_of(rel)
            if actual != sha:
                problem = f"reads back with SHA-256 {actual[:16]}…, expected {sha[:16]}…"
        if problem:
            self.delete(rel)
            raise StorageError(f"upload of {self.key(rel)} to {self._where()} failed verification: the object "
                               f"{problem}; it was removed and nothing was catalogued; try again")

    def put_file(self, src: Path, rel: str | Path) -> None:
        """Upload a side file (keyframe, transcript) under its archive path."""
        rel = Path(rel).as_posix()
        sha = sha256_file(Path(src))
        single = self._upload(Path(src), rel, sha)
        self._verify_upload(rel, sha, Path(src).stat().st_size, trust_checksum=single)

    def copy_into(self, src: Path, dest: Path) -> None:
        """Atomic copy of a small side file into the local video folder (kept beside the cache)."""
        with open(src, "rb") as f:
            atomic_write(dest, lambda out: shutil.copyfileobj(f, out, CHUNK))

    def delete(self, rel: str | Path) -> None:
        key = self.key(rel)
        with self._errors(f"deleting {key}"):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def check(self) -> None:
        """Raise StorageError unless the bucket exists and answers (used before a long run)."""
        from botocore.exceptions import ClientError

        if self._bucket_ok:
            return
        with self._errors("opening the archive"):
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
                    exc.response["Error"]["Code"] = "NoSuchBucket"
                raise
        self._bucket_ok = True


class _ErrorTranslatingStream:
    """A botocore body whose read errors (a dropped connection, a timeout mid-stream) become StorageError."""

    def __init__(self, body: Any, store: S3Store, doing: str):
        self._body, self._store, self._doing = body, store, doing

    def read(self, n: int = -1) -> bytes:
        with self._store._errors(self._doing):
            try:
                return self._body.read(None if n is None or n < 0 else n)
            except OSError as exc:
                raise StorageError(f"{self._doing}: the connection to {self._store._where()} broke ({exc}); "
                                   "try again") from None

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> "_ErrorTranslatingStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _content_type(rel: str) -> str:
    import mimetypes

    return mimetypes.guess_type(rel)[0] or "application/octet-stream"


__all__ = ["S3Store", "StorageError", "ObjectInfo"]
