"""Scaling out: `migrate` (to PostgreSQL + S3), `deploy` and `worker` (Prefect work pools) (the scale room)."""

from __future__ import annotations

import os
import sys
from typing import Any, Optional

import typer

from pipeline.broadcast.recorder import channel_slug
from pipeline.broadcast.status import record_folder
from pipeline.cli.common import (
    JsonFlag,
    bytes_progress,
    console,
    cron_times,
    err_console,
    prefect_settings,
    print_json,
    rich_escape,
    scale_out_api,
    settings,
)
from pipeline.errors import ClipwatchError
from pipeline.storage.base import open_blob_store, open_catalogue, scheme_of
from pipeline.storage.migrate import migrate
from pipeline.storage.sqlite.catalogue import Store

app = typer.Typer()

WORKER_LIMITS = {"media": 1, "asr": 1}  # one Whisper (or one decoder) per worker: each already uses every core


@app.command("migrate")
def migrate_cmd(
    to: str = typer.Option(..., "--to", help="The PostgreSQL catalogue: postgresql://user:password@host:5432/db"),
    storage: Optional[str] = typer.Option(None, "--storage", help="Also copy the files into s3://bucket/prefix."),
    as_json: JsonFlag = False,
) -> None:
    """Copy this archive (SQLite + files) into PostgreSQL [+ S3]; verified, and resumable: run it again after a stop."""
    s = settings()
    if scheme_of(to)[0] not in ("postgresql", "postgres"):
        raise ClipwatchError(f"--to must be a postgresql:// URL, not {to.split('://')[0]}://…")
    if not s.db_path.is_file():
        raise ClipwatchError(f"no catalogue at {s.db_path}: nothing to migrate (set --data-dir or CLIPWATCH_DATA)")
    blobs = open_blob_store(storage, cache_dir=s.data_dir / "s3-cache") if storage else None
    if blobs is not None and hasattr(blobs, "check"):
        blobs.check()
    with Store(s.db_path) as src, open_catalogue(to) as dest:
        with bytes_progress() as progress:
            bars: dict[str, Any] = {}

            def tick(what: str, done: int, total: int) -> None:
                if what not in bars:
                    bars[what] = progress.add_task(what, total=total or None)
                progress.update(bars[what], completed=done, total=total or None)

            result = migrate(src, s.archive_dir, dest, blobs, progress=None if as_json else tick)
    if as_json:
        print_json(result.to_dict())
        return
    rows = sum(result.rows.values())
    console.print(f"migrated: {rows:,} rows in {len(result.rows)} tables ({sum(result.copied.values()):,} copied now), "
                  f"{result.objects} files in the object store ({result.uploaded} uploaded now); counts, SHA-256s and "
                  "transcript text verified", highlight=False)


@app.command()
def deploy(
    cron: str = typer.Option("0 */6 * * *", "--cron", help="The monitor deployment's schedule (cron syntax, UTC)."),
    record: Optional[str] = typer.Option(None, "--record", help="Register instead a long-lived recorder of this live "
                                                               "stream: deployment record/<channel> in the record pool."),
    channel: Optional[str] = typer.Option(None, "--channel", help="With --record: the channel's id (default: the "
                                                                  "stream's host as a slug)."),
    segment: float = typer.Option(600.0, "--segment", min=1.0, help="With --record: segment length in seconds."),
    shed_after: Optional[float] = typer.Option(None, "--shed-after", min=0.0,
                                               help="With --record: seconds of backlog past which optional stages are shed."),
    start: bool = typer.Option(True, "--start/--no-start", help="With --record: start the recorder's flow run now."),
    as_json: JsonFlag = False,
) -> None:
    """Register clipwatch's deployments and work pools (download, media, asr, record) on the Prefect server
    (PREFECT_API_URL); with --record URL, a channel's recorder (restarted when it crashes)."""
    prefect_settings()
    if record is not None:
        deploy_recorder(record, channel, segment, shed_after, start, as_json)
        return
    from flows.pools import check_server, register  # imports Prefect: after prefect_settings configured it

    cron_times(cron, 1)
    check_server(scale_out_api() or "")
    done = register(cron)
    if as_json:
        print_json(done.to_dict())
        return
    for name, pool in done.deployments.items():
        console.print(f"{rich_escape(name)} → work pool [bold]{pool}[/]", highlight=False)
    if done.pools_created:
        console.print(f"created work pools: {', '.join(done.pools_created)}", highlight=False)
    console.print(f"downloads at once, all workers together: {done.download_limit} (CLIPWATCH_DOWNLOADS); start "
                  "workers with `clipwatch worker --pool download|media|asr`", highlight=False)


def deploy_recorder(url: str, channel: Optional[str], segment: float, shed_after: Optional[float], start: bool,
                    as_json: bool) -> None:
    """`clipwatch deploy --record URL`: the recorder's deployment, its restart automation, its first flow run.

    Arguments:
        url: the live stream.
        channel: the channel's id (None: the stream's host as a slug).
        segment: segment length in seconds.
        shed_after: backlog past which optional stages are shed (None: the recorder's default).
        start: start a flow run now unless one is scheduled or running.
        as_json: print JSON.
    """
    try:
        ch = channel or channel_slug(url)
        record_folder(settings().data_dir, ch)
    except ValueError:
        raise ClipwatchError(f"bad --channel {channel!r}: use letters, digits and dashes") from None
    from flows.pools import check_server  # imports Prefect: after prefect_settings configured it
    from flows.record_deploy import register_recorder

    check_server(scale_out_api() or "")
    done = register_recorder(url, ch, segment, shed_after, start)
    if as_json:
        print_json(done)
        return
    console.print(f"{rich_escape(done['deployment'])} → work pool [bold]{done['pool']}[/] (one run at a time; a failed "
                  f"run retried up to {done['retries']} times, {done['retry_delay_seconds']} s apart; a crashed run "
                  "restarted by an automation)", highlight=False)
    if done["flow_run"]:
        console.print(f"started flow run {done['flow_run']}", highlight=False)
    elif done["already_running"]:
        console.print("a flow run of it is already scheduled or running: left as it is", highlight=False)
    console.print("start a worker for it with `clipwatch worker --pool record` (and one with `--pool asr` for the "
                  "segments' transcripts)", highlight=False)


@app.command()
def worker(
    pool: str = typer.Option(..., "--pool", help="The work pool to take flow runs from: download, media or asr."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1,
                                        help="Flow runs at once (default: CLIPWATCH_DOWNLOADS for download, 1 for media and asr)."),
    name: Optional[str] = typer.Option(None, "--name", help="The worker's name in Prefect (default: host and a random suffix)."),
) -> None:
    """Start a Prefect process worker for one of clipwatch's work pools (runs until stopped)."""
    from flows.pools import POOLS, ScaleLimits, check_server  # imports Prefect (seconds): only where it is used

    if pool not in POOLS:
        raise ClipwatchError(f"unknown work pool {pool!r}; choose one of: {', '.join(POOLS)}")
    prefect_settings(quiet=False)  # the worker's own log lines say what it runs
    check_server(scale_out_api() or "")
    limit = limit or WORKER_LIMITS.get(pool) or ScaleLimits().downloads
    argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process",
            "--limit", str(limit)]
    if name:
        argv += ["--name", name]
    err_console.print(f"worker for pool {pool} (at most {limit} flow run(s) at once) on {scale_out_api()}",
                      highlight=False)
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # the worker is Prefect's own; signals reach it directly
