"""`clipwatch monitor retract`: withdraw a removal recorded by mistake, with a reason kept in the event chain.

Registered on the `monitor` group by the preservation room; ``event_line`` is how `show` prints a removal and its
retraction.
"""

from __future__ import annotations

from typing import Any, Optional

import typer

from pipeline.cli.common import JsonFlag, console, open_store, print_json
from pipeline.display import safe_markup
from pipeline.preservation.removals import retract


def retract_cmd(
    video_id: str = typer.Argument(..., help="The video whose removal is withdrawn (id or unambiguous prefix)."),
    why: str = typer.Option(..., "--why", help="Why the removal was wrong (kept verbatim in the event chain)."),
    event: Optional[int] = typer.Option(None, "--event", help="Which `removed` event (default: the latest not yet retracted)."),
    as_json: JsonFlag = False,
) -> None:
    """Withdraw a recorded removal: a `retracted` event that says why, shown wherever the removal is shown."""
    with open_store() as store:
        done = retract(store, video_id, why, event)
    if as_json:
        print_json(done)
        return
    console.print(f"{done['video_id']}: removal (event {done['retracts']}, {safe_markup(done['removed_reason'] or '')}) "
                  f"retracted — {safe_markup(done['why'])}"
                  + ("; status back to available" if done["status_restored"] else ""), highlight=False)


def event_line(ev: dict[str, Any], removals: list[dict[str, Any]] | None) -> str:
    """What follows an event's time and kind in `clipwatch show`: a removal's words and its retraction."""
    d = ev.get("detail") or {}
    if not isinstance(d, dict):
        return ""
    if ev.get("kind") == "removed":
        line = f"  {safe_markup(d.get('kind') or '')}: {safe_markup(d.get('reason') or '')}"
        if d.get("language"):
            line += f" [dim]({safe_markup(d['language'])})[/]"
        r = next((r for r in removals or [] if r.get("at") == ev.get("at") and r.get("confirmed_at") == d.get("confirmed_at")), None)
        if r is not None and r.get("retraction"):
            line += f"  [bold yellow]RETRACTED[/] {safe_markup(r['retraction']['at'])}: {safe_markup(r['retraction'].get('why'))}"
        return line
    if ev.get("kind") == "retracted":
        return f"  event {d.get('retracts')}: {safe_markup(d.get('why') or '')}"
    return ""

