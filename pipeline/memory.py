"""Process memory: how many malloc arenas glibc keeps, and when it hands large blocks back.

glibc gives each thread that allocates while another holds the main arena an arena of its own, up to eight per
core, and memory freed in one arena is not reused by another. An ingest runs Whisper, the picture lane, the stages
beside Whisper, the join lane and the downloads in threads of one process, so on a batch of six real clips
(bench/e2e.py's) its peak RSS was 1,006 MB with glibc's default and 760 MB with two arenas (``MALLOC_ARENA_MAX=2``,
the same wall time within noise). ``limit_malloc_arenas`` sets that limit from inside the process, before the
threads start; a ``MALLOC_ARENA_MAX`` the user set stands.

glibc also raises its mmap threshold each time a large block is freed (up to 32 MB), so after the first few
spectrograms, attention buffers and video frames, blocks of that size come from the heap, and what is freed there
stays resident between the gaps of blocks still in use. ``release_large_blocks`` fixes the threshold instead: a
block of 4 MB or more gets a mapping of its own and goes back to the system when freed. Issue 19's batch of six
(bench/e2e.py's clips, RSS sampled every 50 ms, two arenas): peak 675-729 MB and median 544-601 MB with glibc's
default (three runs), 612-626 MB and 495-514 MB with the fixed threshold (two runs), CPU 219-227 s against
214-216 s. A ``MALLOC_MMAP_THRESHOLD_`` the user set stands.
"""

from __future__ import annotations

import ctypes
import os
import sys

#: glibc's mallopt parameter number for the arena limit (malloc.h: M_ARENA_MAX)
M_ARENA_MAX = -8
#: arenas an ingest keeps: the threads that allocate most at once are Whisper's and one lane's
ARENAS = 2
#: glibc's mallopt parameter number for the mmap threshold (malloc.h: M_MMAP_THRESHOLD)
M_MMAP_THRESHOLD = -3
#: blocks at least this large are mapped on their own and unmapped when freed
MMAP_THRESHOLD = 4 * 1024 * 1024


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Limit glibc's malloc arenas for this process (call it before threads start; arenas made before stay).

    Arguments:
        arenas: the most arenas glibc may create.

    Returns:
        True when the limit was set; False elsewhere than glibc on Linux, or when ``MALLOC_ARENA_MAX`` is set (the
        user's choice stands).
    """
    return _mallopt(M_ARENA_MAX, arenas, "MALLOC_ARENA_MAX")


def release_large_blocks(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold, so that blocks of ``threshold`` bytes or more are given back when freed.

    Arguments:
        threshold: the smallest block, in bytes, that gets a mapping of its own.

    Returns:
        True when the threshold was set; False elsewhere than glibc on Linux, or when ``MALLOC_MMAP_THRESHOLD_`` is
        set (the user's choice stands).
    """
    return _mallopt(M_MMAP_THRESHOLD, threshold, "MALLOC_MMAP_THRESHOLD_")


def configure_malloc() -> None:
    """What an ingest process sets before its threads start: two arenas, and large blocks given back when freed."""
    limit_malloc_arenas()
    release_large_blocks()


def _mallopt(param: int, value: int, env: str) -> bool:
    if not sys.platform.startswith("linux") or os.environ.get(env):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):  # a C library without mallopt (musl)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(param, value) == 1
