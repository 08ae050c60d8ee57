"""Category tags: `tags show`, `tags set`, `tags run`, `tags retrain` (the tagging room)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from pipeline.cli.common import JsonFlag, console, err_console, open_store, print_json, rich_escape, settings
from pipeline.domain import tag_dicts
from pipeline.errors import ConfigError, NotFoundError
from pipeline.storage.base import Catalogue, blob_store_for
from pipeline.tagging.model import clear_human_tag, retrain, set_human_tag

app = typer.Typer()
tags_app = typer.Typer(help="Category tags (news, music, propaganda): show, correct, re-run, retrain.", no_args_is_help=True)
app.add_typer(tags_app, name="tags")


def _tag_rows(store: Catalogue, video_id: str) -> list[dict[str, Any]]:
    if store.find_video(video_id) is None:
        raise NotFoundError(f"no video {video_id!r} in the archive; see `clipwatch list`")
    return tag_dicts(store.tags(video_id))


@tags_app.command("show")
def tags_show(
    video_id: str = typer.Argument(..., help="Video id (see `clipwatch list`)."),
    as_json: JsonFlag = False,
) -> None:
    """Scores with their evidence, e.g. 'propaganda 0.91: channel in registry (+1.8), …'."""
    with open_store(reading=True) as store:
        rows = _tag_rows(store, video_id)
    if as_json:
        print_json({"video_id": video_id, "tags": rows})
        return
    if not rows:
        console.print(f"{video_id}: not tagged yet (run `clipwatch tags run {video_id}`)")
        return
    for r in rows:
        mark = "[green]yes[/]" if r["decision"] else "[dim]no[/]"
        who = " [magenta](human)[/]" if r["origin"] == "human" else ""
        console.print(f"[bold]{r['category']}[/] {r['score']:.2f} {mark}{who}: " + rich_escape(", ".join(r["evidence"])), soft_wrap=True)
    versions = sorted({r["model_version"] for r in rows if r["origin"] == "model"})
    if versions:
        console.print(f"[dim]model {', '.join(versions)}[/]")


@tags_app.command("set")
def tags_set(
    video_id: str = typer.Argument(..., help="Video id."),
    category: str = typer.Option(..., "--category", "-c", help="news | music | propaganda"),
    value: str = typer.Option(..., "--value", help="true or false (a human decision; kept over model re-runs), or 'clear' to drop it."),
    note: Optional[str] = typer.Option(None, "--note", help="Why (kept as the evidence)."),
    as_json: JsonFlag = False,
) -> None:
    """Record a human correction for one category; re-running the tagger never overwrites it."""
    v = value.strip().lower()
    with open_store() as store:
        if v == "clear":
            _tag_rows(store, video_id)
            gone = clear_human_tag(store, video_id, category)
            if as_json:
                print_json({"video_id": video_id, "category": category, "human": None, "cleared": gone,
                            "tags": _tag_rows(store, video_id)})
            else:
                console.print(f"{video_id} {category}: human decision {'cleared' if gone else 'was not set'}")
            return
        if v not in {"true", "false", "yes", "no", "1", "0"}:
            raise ConfigError(f"--value {value!r}: use true, false or clear")
        decision = v in {"true", "yes", "1"}
        set_human_tag(store, video_id, category, decision, note)
        rows = _tag_rows(store, video_id) if as_json else []
    if as_json:
        print_json({"video_id": video_id, "category": category, "human": decision, "cleared": False, "tags": rows})
        return
    console.print(f"{video_id} {category} = {decision} (human)")


@tags_app.command("run")
def tags_run(
    video_ids: list[str] = typer.Argument(..., help="Video ids to (re-)tag with the current model."),
    as_json: JsonFlag = False,
) -> None:
    """Re-run the tagger on archived videos (human corrections are kept)."""
    from pipeline.stages.runner import run_tagging  # every stage module, OpenCV included: only for this command

    s = settings()
    out = {}
    with open_store(s) as store:
        for vid in video_ids:
            outcome = run_tagging(store, blob_store_for(s), vid, force=True)
            out[vid] = _tag_rows(store, vid)
            if not as_json:
                console.print(f"{vid}: {rich_escape(outcome.message)}")
    if as_json:
        print_json(out)


@tags_app.command("retrain")
def tags_retrain(
    labels: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV: video_id,news,music,propaganda (1/0, blank = unknown)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write the weights (default: <data>/models/tagging_model.json)."),
    no_audio: bool = typer.Option(False, "--no-audio", help="Skip the audio analysis (faster; audio features become 0)."),
    as_json: JsonFlag = False,
) -> None:
    """Fit new per-category weights on your own labelled videos of this archive."""
    s = settings()
    dest = out or (s.models_dir / "tagging_model.json")
    progress_console = err_console if as_json else console  # with --json, stdout carries the JSON alone
    with open_store(s) as store:
        model, counts = retrain(store, labels, dest, s.archive_dir, with_audio=not no_audio,
                                progress=lambda vid: progress_console.print(f"[dim]features: {vid}[/]"))
    if as_json:
        print_json({"trained_on": model.trained_on, "path": str(dest),
                    "counts": {c: {"yes": y, "no": n} for c, (y, n) in counts.items()},
                    "weights": {cat: dict(m.weights) for cat, m in model.categories.items()}})
        return
    console.print(f"trained on {model.trained_on}: " + ", ".join(f"{c} {y} yes / {n} no" for c, (y, n) in counts.items()))
    for cat, m in model.categories.items():
        top = sorted(m.weights.items(), key=lambda kv: -abs(kv[1]))[:5]
        console.print(f"  {cat}: " + ", ".join(f"{k} {v:+.2f}" for k, v in top))
    console.print(f"wrote {dest}\nuse it: export CLIPWATCH_TAGGING_MODEL={dest} and run `clipwatch tags run VIDEO_ID...`")
