"""Process memory: how many malloc arenas glibc keeps, and handing freed heap back after each video.

glibc gives each thread that allocates while another holds the main arena an arena of its own, up to eight per
core, and memory freed in one arena is not reused by another. An ingest runs Whisper, the picture lane, the stages
beside Whisper, the join lane and the downloads in threads of one process, so on a batch of six real clips
(bench/e2e.py's) its peak RSS was 1,006 MB with glibc's default and 760 MB with two arenas (``MALLOC_ARENA_MAX=2``,
the same wall time within noise). ``limit_malloc_arenas`` sets that limit from inside the process, before the
threads start; a ``MALLOC_ARENA_MAX`` the user set stands.

glibc also keeps the pages of blocks freed inside its heaps; its mmap threshold rises to the size of each large
block freed (up to 32 MB), so spectrograms, attention buffers and frames soon come from the heaps too.
``release_free_memory`` (``malloc_trim(0)``) hands those pages back; an ingest calls it once per video, when the
video's join stages end. On issue 19's batch of six (bench/e2e.py's clips, RSS sampled every 50 ms): peak 655 and
660 MB against 675-736 MB without it, CPU 204 s against 219-227 s, 0.1 s spent trimming. Trimming after every
stage instead cost about 7 % more CPU, and a fixed 4 MB mmap threshold made one clip 25 % slower.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

#: glibc's mallopt parameter number for the arena limit (malloc.h: M_ARENA_MAX)
M_ARENA_MAX = -8
#: arenas an ingest keeps: the threads that allocate most at once are Whisper's and one lane's
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Limit glibc's malloc arenas for this process (call it before threads start; arenas made before stay).

    Arguments:
        arenas: the most arenas glibc may create.

    Returns:
        True when the limit was set; False elsewhere than glibc on Linux, or when ``MALLOC_ARENA_MAX`` is set (the
        user's choice stands).
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    mallopt = _glibc("mallopt", [ctypes.c_int, ctypes.c_int])  # musl has none that counts arenas
    return mallopt is not None and mallopt(M_ARENA_MAX, arenas) == 1


def release_free_memory() -> bool:
    """Hand the pages of freed heap blocks back to the system (glibc's ``malloc_trim(0)``, every arena).

    Returns:
        True when glibc gave memory back; False when it had none to give, or elsewhere than glibc on Linux.
    """
    trim = _glibc("malloc_trim", [ctypes.c_size_t])
    return trim is not None and trim(0) == 1


def _glibc(name: str, argtypes: list) -> Any:
    """The process's own C library function ``name`` returning an int, or None off Linux or where the C library
    lacks it (musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = argtypes, ctypes.c_int
    return fn
