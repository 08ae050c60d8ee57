"""What the pictures hold: `shots` and `screen-text` (the shots room)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Optional

import typer

from pipeline.cli.common import JsonFlag, console, err_console, fmt_time, open_store, print_json, rich_escape, settings
from pipeline.storage.base import blob_store_for

app = typer.Typer()


@app.command()
def shots(
    file: Path = typer.Argument(..., help="Any local video file (it is not archived)."),
    detector: Optional[str] = typer.Option(None, "--detector", help="adaptive, content, fade, or names joined by '+' (default adaptive+fade)."),
    keyframes_dir: Optional[Path] = typer.Option(None, "--keyframes", help="Also write one JPEG per shot here."),
    as_json: JsonFlag = False,
) -> None:
    """Detect shots in a video file and pick one keyframe per shot."""
    from pipeline.shots import keyframes as kf  # OpenCV (~0.3 s to load): only for the command that reads frames

    with tempfile.TemporaryDirectory(prefix="clipwatch-shots-") as tmp:
        out = keyframes_dir or Path(tmp)
        result = kf.extract_keyframes(file, out, detector=detector or kf.DEFAULT_DETECTOR)
    data: dict[str, Any] = {
        "file": str(file), "duration": result.duration, "detector": result.detector, "tool_version": result.tool_version,
        "shots": [{"index": sh.index, "start": round(sh.start, 3), "end": round(sh.end, 3), "transition": getattr(sh, "transition", None)}
                  for sh in result.shots],
        "keyframes": [{"shot_index": k.shot_index, "time": round(k.time, 3), "phash": f"{k.phash:016x}",
                       "path": str(out / k.path) if keyframes_dir else None} for k in result.keyframes],
    }
    if as_json:
        print_json(data)
        return
    console.print(f"{rich_escape(str(file))}: {len(result.shots)} shots in {fmt_time(result.duration)} ({result.detector})")
    by_shot: dict[int, list[dict]] = {}
    for k in data["keyframes"]:
        by_shot.setdefault(k["shot_index"], []).append(k)
    for sh in data["shots"]:
        kfs = ", ".join(f"{k['time']:.2f}s {k['phash']}" + (f" {k['path']}" if k["path"] else "") for k in by_shot.get(sh["index"], []))
        console.print(f"  shot {sh['index']:>3}  {sh['start']:8.2f}s – {sh['end']:8.2f}s  {sh['transition'] or '':<5}  "
                      + (f"keyframe {kfs}" if kfs else ""), highlight=False)


@app.command("screen-text")
def screen_text_cmd(
    video_id: str = typer.Argument(..., help="An archived video id."),
    force: bool = typer.Option(False, "--force", help="Read again even if already read."),
    as_json: JsonFlag = False,
) -> None:
    """Read the text on screen (captions, chyrons; Korean and English) of an archived video, and show it."""
    from pipeline.stages.runner import run_ocr  # every stage module, OpenCV included: only for this command

    s = settings()
    with open_store(s) as store:
        v = store.get_video(video_id)
        outcome = run_ocr(store, blob_store_for(s), v["id"], force=force)
        rows = store.segments(v["id"], "screen")
    lines = [{"start": r["start"], "end": r["end"], "text": r["text"]} for r in rows]
    if as_json:
        print_json({"video_id": v["id"], "status": outcome.status, "message": outcome.message, "segments": lines})
        return
    err_console.print(f"{outcome.status}: {outcome.message}", highlight=False)
    for line in lines:
        console.print(f"  {fmt_time(line['start'])}–{fmt_time(line['end'])}  {rich_escape(line['text'])}", highlight=False)
    if not lines:
        console.print("no text on screen")
