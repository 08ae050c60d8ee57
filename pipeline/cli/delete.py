"""`clipwatch delete ID --why TEXT`: a deliberate deletion, recorded in the event chain (the custody room's door)."""

from __future__ import annotations

import typer

from pipeline.cli.common import JsonFlag, console, open_store, print_json, rich_escape, settings
from pipeline.copies.index import forget
from pipeline.preservation.deletion import delete_video
from pipeline.storage.base import blob_store_for

app = typer.Typer()


@app.command()
def delete(
    video_id: str = typer.Argument(..., help="The video to delete (id or unambiguous prefix)."),
    why: str = typer.Option(..., "--why", help="Why it is deleted (kept in the event chain; required)."),
    as_json: JsonFlag = False,
) -> None:
    """Delete a video deliberately, recording why in the event chain.

    Removes its catalogue rows, its folder and any original no other video holds; the `deleted` event keeps why,
    so `verify --all` tells it from a loss."""
    s = settings()
    with open_store(s) as store:
        out = delete_video(store, blob_store_for(s), video_id, why)
        forget(store, [out.video_id])  # out of the copies index too (its next sync would also notice)
    if as_json:
        print_json(out.to_dict())
        return
    console.print(f"deleted {out.video_id} (event {out.event_id}: {rich_escape(out.why)}); "
                  f"{len(out.originals_removed)} original(s) removed", highlight=False)
