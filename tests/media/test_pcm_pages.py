"""The decoded audio's memory map (issue 19): a reader that goes block by block leaves one block resident, not the
track — a 3-hour PCM is 690 MB, which would otherwise all count in the ingest's RSS once read."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.media.audio import open_pcm, pcm_blocks, pcm_read, release_pages


def _rss_file_kb() -> int:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("RssFile"))
    return int(line.split()[1])


def test_block_reads_leave_the_memory_map_out_of_the_resident_set(tmp_path):
    path = tmp_path / "a.f32"
    x = np.random.default_rng(0).standard_normal(16000 * 60 * 10).astype(np.float32)  # ten minutes: 38 MB
    x.tofile(path)
    mm = open_pcm(path)
    base = _rss_file_kb()
    blocks = list(pcm_blocks(mm, 1 << 20))  # what every block reader of the pipeline goes through
    assert np.array_equal(np.concatenate(blocks), x)
    assert all(not isinstance(b, np.memmap) and b.dtype == np.float32 for b in blocks)  # copies
    assert _rss_file_kb() - base < 8 * 1024  # under two blocks' pages left, not the 38 MB read
    # a plain read of the map keeps its pages resident; releasing a view of it lets them go
    view = mm[1000:]
    assert float(np.asarray(view).sum()) == float(x[1000:].sum())
    assert _rss_file_kb() - base > 30 * 1024
    release_pages(view)
    assert _rss_file_kb() - base < 8 * 1024
    assert np.array_equal(pcm_read(mm, 5, 9), x[5:9])  # still readable: the pages come back from the page cache
    release_pages(x)  # not a memory map: nothing to do
