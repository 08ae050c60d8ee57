"""The process's malloc arenas (pipeline.memory): limited before an ingest's threads start."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc arenas are Linux's")

# Eight threads allocating at once, then the heaps of glibc's non-main arenas counted: each is an anonymous
# mapping of 64 MB (HEAP_MAX_SIZE) split into a used part and a reserved (---p) part.
PROBE = textwrap.dedent("""
    import ctypes, sys, threading
    from pipeline.memory import limit_malloc_arenas
    limited = limit_malloc_arenas() if sys.argv[1] == "limit" else False
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    start = threading.Barrier(8)
    def work():
        start.wait()
        for _ in range(2000):
            libc.malloc(256)  # small blocks: from the thread's arena (never freed: the arena stays)
    threads = [threading.Thread(target=work) for _ in range(8)]
    [t.start() for t in threads]; [t.join() for t in threads]
    regions = []
    for line in open("/proc/self/maps"):
        parts = line.split()
        if len(parts) == 5:  # anonymous
            a, b = (int(x, 16) for x in parts[0].split("-"))
            regions.append((a, b, parts[1]))
    heaps = sum(1 for (a, b, p), (c, d, q) in zip(regions, regions[1:]) if b == c and p.startswith("rw")
                and q == "---p" and d - a == 64 * 1024 * 1024)
    print(limited, heaps)
""")


def _arenas(mode: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=env, check=True)
    limited, heaps = out.stdout.split()
    return limited, int(heaps)


def test_an_ingest_process_keeps_at_most_two_malloc_arenas():
    limited, heaps = _arenas("limit")
    assert limited == "True" and heaps <= 1  # the main arena (not a heap mapping) and one more at most
    # without the limit the same threads make arenas of their own (the probe can tell the difference)
    _, unlimited = _arenas("default")
    assert unlimited > 1


def test_a_users_malloc_arena_max_stands(monkeypatch):
    from pipeline.memory import limit_malloc_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


# Blocks of 6 MB from the heap (a 30 MB block freed first raises glibc's mmap threshold above them), each followed by a
# block that stays, so nothing coalesces into the heap's top: freed, their pages stay resident until trimmed.
FREED = textwrap.dedent("""
    import ctypes, sys
    from pipeline.memory import release_free_memory
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    def anon_mb():
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("RssAnon")) // 1024
    libc.free(libc.malloc(30 << 20))
    blocks, keep = [], []
    for _ in range(20):
        blocks.append(libc.malloc(6 << 20))
        keep.append(libc.malloc(1 << 20))
    for b in blocks:
        ctypes.memset(b, 1, 6 << 20)
    for b in blocks:
        libc.free(b)
    before = anon_mb()
    released = release_free_memory() if sys.argv[1] == "trim" else False
    print(released, before - anon_mb())
""")


def _given_back_mb(mode: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", FREED, mode], capture_output=True, text=True, env=env, check=True)
    released, mb = out.stdout.split()
    return released, int(mb)


def test_freed_heap_pages_go_back_when_released():
    released, mb = _given_back_mb("trim")
    assert released == "True" and mb >= 100  # 120 MB freed inside the heap
    # without the call the same pages stay resident: the probe can tell the difference
    _, kept = _given_back_mb("none")
    assert kept < 10
