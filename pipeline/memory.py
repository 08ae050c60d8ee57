"""Process memory: how many malloc arenas glibc keeps.

glibc gives each thread that allocates while another holds the main arena an arena of its own, up to eight per
core, and memory freed in one arena is not reused by another. An ingest runs Whisper, the picture lane, the stages
beside Whisper, the join lane and the downloads in threads of one process, so on a batch of six real clips
(bench/e2e.py's) its peak RSS was 1,006 MB with glibc's default and 760 MB with two arenas (``MALLOC_ARENA_MAX=2``,
the same wall time within noise). ``limit_malloc_arenas`` sets that limit from inside the process, before the
threads start; a ``MALLOC_ARENA_MAX`` the user set stands.
"""

from __future__ import annotations

import ctypes
import os
import sys

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
    if not sys.platform.startswith("linux") or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):  # a C library without mallopt (musl has none that counts arenas)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_ARENA_MAX, arenas) == 1
