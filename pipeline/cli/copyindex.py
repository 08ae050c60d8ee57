"""`clipwatch copies-index`: the persistent copies index (issue 19 item 4) — its state, and rebuilding it."""

from __future__ import annotations

import time

import typer

from pipeline.cli.common import JsonFlag, console, open_store, print_json, rich_escape, settings
from pipeline.copies import index as copyindex

app = typer.Typer()


@app.command("copies-index")
def copies_index(
    rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild the index from the catalogue (when it is missing "
                                 "or damaged, or to compact it)."),
    as_json: JsonFlag = False,
) -> None:
    """State of the copies index that ingest matches new videos against; --rebuild builds it from the catalogue.

    The index (keyframe hashes and audio fingerprints, in the archive folder's `copyindex/`) is updated as videos
    are archived and deleted; the catalogue stays the authority, so rebuilding loses nothing."""
    s = settings()
    with open_store(s) as store:
        t0 = time.perf_counter()
        if rebuild:
            idx = copyindex.rebuild(store)
        else:
            idx = copyindex.CopyIndex.open(store)  # CopyIndexError (one line: how to rebuild) when missing/damaged
            with idx.locked():
                added, removed = copyindex.sync(idx, store, full=True)
        st = idx.stats()
        st["seconds"] = round(time.perf_counter() - t0, 2)
        if not rebuild:
            st["synced"] = {"added": added, "removed": removed}
    if as_json:
        print_json(st)
        return
    verb = "rebuilt" if rebuild else "ok"
    console.print(f"copies index {verb}: {st['videos']} videos, {st['keyframes']} keyframe hashes, "
                  f"{st['postings']} audio items in {st['segments']} segment(s), {st['bytes'] / 1e6:.1f} MB "
                  f"({st['seconds']:.2f} s)  {rich_escape(st['folder'])}", highlight=False)
