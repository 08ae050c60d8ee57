"""`clipwatch monitor watch`: watch channels at their own pace (the capture-in-time room).

The command joins the ``monitor`` group of the preservation room; this module's own ``app`` holds no command, so
``ROOMS`` registering it adds nothing at the root.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import typer

from pipeline.cli.common import JsonFlag, console, err_console, prefect_settings, rich_escape
from pipeline.cli.preservation import monitor_app
from pipeline.preservation.watching import Watcher, load_watch_rules, parse_duration

app = typer.Typer()


def _round_dict(rnd: Any) -> dict[str, Any]:
    checks = rnd.checks.to_dict() if rnd.checks is not None else None
    return {"at": rnd.at.isoformat().replace("+00:00", "Z"), "sources": rnd.sources,
            "ingested": [{"ref": v.ref, "title": v.title, "video_id": v.video_id, "status": v.status, "error": v.error}
                         for v in rnd.ingested],
            "checks": checks["checks"] if checks else [], "seconds": round(rnd.seconds, 3),
            "next_at": rnd.next_at.isoformat().replace("+00:00", "Z") if rnd.next_at else None}


@monitor_app.command("watch")
def monitor_watch(
    rounds: Optional[int] = typer.Option(None, "--rounds", min=1, help="Stop after this many wake-ups (default: run until Ctrl-C)."),
    check_every: str = typer.Option("10m", "--check-every", help="How often archived videos are re-checked for removal."),
    no_check: bool = typer.Option(False, "--no-check", help="Only look for new uploads."),
    no_analyse: bool = typer.Option(False, "--no-analyse", help="Archive new videos without keyframes/transcripts/tags."),
    as_json: JsonFlag = False,
) -> None:
    """Watch every watched source at its own pace (the registry's poll/relist) and archive new uploads at once.

    Each source is polled through its feed (YouTube's channel Atom feed, or the registry's `feed`) every `poll` and
    fully relisted with yt-dlp every `relist` (defaults in the registry's watch table: 1h and 6h). With --json, one JSON object per line,
    one per wake-up.
    """
    every = parse_duration(check_every, "--check-every")
    rules = load_watch_rules()  # a bad interval in the registry is one error line before anything runs
    s = prefect_settings()
    from flows.watch import watch_loop  # imports Prefect, which reads its settings when first imported

    def show(rnd: Any) -> None:
        if as_json:
            typer.echo(json.dumps(_round_dict(rnd), ensure_ascii=False, default=str))
            return
        for src in rnd.sources:
            line = f"{rnd.at:%H:%M:%S} {rich_escape(src['title'] or src['url'])}: {src['outcome']}, {src['listed']} listed, {len(src['new'])} new"
            if src.get("error"):
                line += f" — [yellow]{rich_escape(src['error'])}[/]"
            console.print(line, highlight=False)
        for v in rnd.ingested:
            colour = "green" if v.status == "ok" else "red"
            console.print(f"  [{colour}]archived[/] {v.video_id or '—'} {rich_escape(v.title or v.ref)}"
                          + (f" [red]{rich_escape(v.error or '')}[/]" if v.error else ""), highlight=False)
        if rnd.checks is not None:
            counts = rnd.checks.counts()
            console.print(f"  {len(rnd.checks.checks)} video(s) checked: "
                          + (", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none due"), highlight=False)
        if rnd.next_at is not None:
            err_console.print(f"next look at {rnd.next_at:%Y-%m-%d %H:%M:%S} UTC", highlight=False)

    watch_loop(str(s.data_dir), watcher=Watcher(rules), analyse_new=not no_analyse, check=not no_check,
               check_every=every, max_rounds=rounds, on_round=show)
