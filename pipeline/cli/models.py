"""Whisper and translation models: `models list`, `models convert`, `models pull` (the models room)."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from pipeline.cli.common import JsonFlag, bytes_progress, console, print_json, settings
from pipeline.models import translation as translation_models
from pipeline.models import whisper as whisper_models
from pipeline.models.whisper import convert, list_models

app = typer.Typer()
models_app = typer.Typer(help="Whisper models shipped as PyPI packages (never downloaded at run time).", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(as_json: JsonFlag = False) -> None:
    """Installed models: name, languages, size, where they come from."""
    infos = list_models(settings().models_dir)
    if as_json:
        print_json([{"name": m.name, "languages": m.languages, "size_bytes": m.size_bytes, "origin": m.origin,
                     "installed": m.installed, "ct2_path": str(m.ct2_path) if m.ct2_path else None,
                     "checkpoint": str(m.checkpoint) if m.checkpoint else None, "note": m.note} for m in infos])
        return
    table = Table()
    for col in ("name", "languages", "size", "installed", "origin", "note"):
        table.add_column(col, overflow="fold")
    for m in infos:
        table.add_row(m.name, m.languages, f"{m.size_bytes / 1e6:.0f} MB", "yes" if m.installed else "no", m.origin, m.note)
    console.print(table)
    console.print("Any local CTranslate2 model folder or openai-whisper .pt file also works: --model /path/to/model")


@models_app.command("convert")
def models_convert(
    name: str = typer.Argument(..., help="A packaged model name (tiny.en, base) or a CTranslate2 folder."),
    as_json: JsonFlag = False,
) -> None:
    """Make the openai-whisper checkpoint of a model once (for --engine openai-whisper)."""
    path = convert(name, settings().models_dir)
    if as_json:
        print_json({"name": name, "checkpoint": str(path)})
        return
    console.print(f"{name}: openai-whisper checkpoint at {path}")


@models_app.command("pull")
def models_pull(
    name: str = typer.Argument(..., help="tiny … large-v3, large-v3-turbo, distil-large-v3 …; translators: "
                               "opus-mt-ko-en, nllb-200-distilled-600M."),
    revision: Optional[str] = typer.Option(None, "--revision", help="A branch, tag or commit of the hub repository."),
    force: bool = typer.Option(False, "--force", help="Download again even when the cache holds this commit."),
    as_json: JsonFlag = False,
) -> None:
    """Download a Whisper or translation model (CTranslate2) from the Hugging Face hub into the model cache, verified.

    Honours HF_ENDPOINT (a mirror), HF_HUB_OFFLINE and HF_TOKEN. Afterwards: --model NAME, or --translator ct2:NAME.
    """
    pull = translation_models.pull if name in translation_models.TRANSLATION_MODELS else whisper_models.pull
    with bytes_progress() as progress:
        bar = progress.add_task(f"pulling {name}", total=None)
        result = pull(name, settings().models_dir, revision=revision, force=force,
                      progress=lambda fname, done, total: progress.update(
                          bar, completed=done, total=total or None, description=f"pulling {fname}"))
    if as_json:
        print_json({"name": result.name, "repo_id": result.repo_id, "commit": result.commit, "path": str(result.path),
                    "size_bytes": result.size, "downloaded": result.downloaded, "files": result.files})
        return
    what = "downloaded and verified" if result.downloaded else "already in the cache"
    console.print(f"{result.name}: {what} ({result.repo_id}@{(result.commit or '?')[:12]}, "
                  f"{result.size / 1e6:.0f} MB) → {result.path}", highlight=False)
