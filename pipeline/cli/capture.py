"""The web archive of each capture (issue 23): `export wacz` (joins the `export` group of the preservation room)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pipeline.cli.common import JsonFlag, console, open_store, print_json, rich_escape, settings
from pipeline.cli.preservation import export_app
from pipeline.preservation.webarchive import export_wacz
from pipeline.storage.base import blob_store_for

# the room's own commands would go here; `export wacz` joins the `export` group the preservation room owns
app = typer.Typer()


@export_app.command("wacz")
def export_wacz_cmd(
    dest: Path = typer.Argument(..., help="Folder to create for the collection (new or empty)."),
    video_ids: list[str] = typer.Argument(..., help="Video ids (or prefixes) whose captured pages to export."),
    tsa: Optional[str] = typer.Option(None, "--tsa", help="Timestamp each WACZ's SHA-256 at this RFC 3161 authority (URL)."),
    as_json: JsonFlag = False,
) -> None:
    """Write the videos' web archives as a collection ReplayWeb.page and pywb open: collection.wacz (all of them in
    one WACZ), videos/<id>.wacz (each as archived, checked against the event chain), collection.json (multi-WACZ)."""
    s = settings()
    with open_store(s, reading=True) as store:
        result = export_wacz(store, blob_store_for(s), dest, video_ids, tsa=tsa)
    if as_json:
        print_json(result.to_dict())
        return
    console.print(f"[bold]{rich_escape(result.path)}[/]/{result.collection}: {len(result.videos)} video(s); open it "
                  "in ReplayWeb.page or `wb-manager add --unpack-wacz COLL` for pywb", highlight=False)
    for v in result.videos:
        console.print(f"  {rich_escape(v['path'])}  sha256 {v['sha256']}", highlight=False)
    for t in result.timestamps:
        console.print(f"  {rich_escape(t['tsr'])}: timestamped {t['gen_time']} by {rich_escape(t['signer'])}", highlight=False)
