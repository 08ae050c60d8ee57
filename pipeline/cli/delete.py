"""`clipwatch delete ID --why TEXT`: a deliberate deletion, recorded in the event chain (registered on the root app)."""

from __future__ import annotations

import typer
from rich.markup import escape as rich_escape

from pipeline.cli.app import app, console, open_store, print_json, settings


@app.command()
def delete(
    video_id: str = typer.Argument(..., help="The video to delete (id or unambiguous prefix)."),
    why: str = typer.Option(..., "--why", help="Why it is deleted (kept in the event chain; required)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delete a video deliberately, recording why in the event chain.

    Removes its catalogue rows, its folder and any original no other video holds; the `deleted` event keeps why,
    so `verify --all` tells it from a loss."""
    from pipeline.preservation.deletion import delete_video

    s = settings()
    with open_store(s) as store:
        out = delete_video(store, s.blob_store(), video_id, why)
    if as_json:
        print_json(out.to_dict())
        return
    console.print(f"deleted {out.video_id} (event {out.event_id}: {rich_escape(out.why)}); "
                  f"{len(out.originals_removed)} original(s) removed", highlight=False)
