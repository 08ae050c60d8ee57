"""Errors a user can cause. Each message says what happened and what to do.

The CLI prints these on one line and exits non-zero; anything that is not a
ClipwatchError is a bug and keeps its traceback.
"""

import errno


class ClipwatchError(Exception):
    """Base class for errors caused by input, environment or remote sites."""

    exit_code = 1


class ConfigError(ClipwatchError):
    """A setting or environment variable is wrong."""


class SourceError(ClipwatchError):
    """A URL or path cannot be used as a source."""


class DownloadError(SourceError):
    """The remote site could not be reached or refused the download."""


class VideoUnavailable(SourceError):
    """The platform says the video is gone (removed, private, blocked)."""

    def __init__(self, message: str, reason: str = "", kind: str = "unavailable-unknown"):
        super().__init__(message)
        self.reason = reason or message
        self.kind = kind


class MediaError(ClipwatchError):
    """A file is not decodable media, or lacks a stream the stage needs."""


class NoAudioError(MediaError):
    """The media has no audio track to transcribe."""


class ModelError(ClipwatchError):
    """A transcription or tagging model is missing, truncated or unusable."""


class QueryError(ClipwatchError):
    """A search query could not be understood."""


class NotFoundError(ClipwatchError):
    """An id or path named by the user does not exist in the archive."""


class StorageError(ClipwatchError):
    """The object store or the database server could not be reached, refused a request, or holds other bytes."""


class DiskFullError(ClipwatchError):
    """The disk holding the archive is full (ENOSPC): the batch stops; what was archived stays."""


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError the environment caused (full disk, read-only or missing folder)."""
    where = f" ({exc.filename})" if isinstance(exc.filename, str) else ""
    if exc.errno == errno.ENOSPC:
        return (f"the disk is full{where}; free some space and run the command again "
                "(what was archived before is kept)")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"cannot write{where}: {exc.strerror}; use a writable --data-dir or a copy of the archive"
    return f"{exc.strerror or exc}{where}"
