"""The watch loop: each watched channel at its own pace, new uploads archived as soon as they are seen.

``clipwatch monitor watch`` runs ``watch_loop``: a ``pipeline.preservation.watching.Watcher`` keeps every watched
source's due times (``poll`` from the channel registry — the cheap feed poll — and the slower full ``relist``); the
loop wakes at the earliest due time (not one global sleep), polls or relists the sources due, and hands what is new
to ``capture_flow``, which archives it with the ingest flow's own tasks (``flows.monitor.ingest_new``). Archived
videos are re-checked for removal by ``monitor_flow`` (relist off) every ``check_every``, under the same two-check
rules as ``clipwatch monitor run``.

The clock and the sleep are arguments, so a test runs an hour of watching in no time.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from prefect import flow

from pipeline.config import Settings
from pipeline.preservation.watching import Watcher
from pipeline.sources.discovery import VideoRef
from pipeline.storage.base import catalogue_for

from .ingest import VideoReport
from .monitor import MonitorReport, ingest_new, monitor_flow, settings_for

log = logging.getLogger(__name__)


@flow(name="capture-new", log_prints=False)
def capture_flow(data_dir: str | None, work: list[tuple[VideoRef, int | None]], analyse_new: bool = True) -> list[VideoReport]:
    """Archive the uploads a poll found (one flow run per round that found any).

    Arguments: data_dir — the archive; work — (upload, watched source id); analyse_new — run the stages after fetch.
    Returns: one ``VideoReport`` per upload.
    """
    settings: Settings = settings_for(data_dir)
    settings.ensure_dirs()
    return ingest_new(work, settings, analyse_new)


@dataclass
class WatchRound:
    """What one wake-up of the loop did."""

    at: datetime
    sources: list[dict[str, Any]] = field(default_factory=list)   # SourceListing.to_dict()
    ingested: list[VideoReport] = field(default_factory=list)
    checks: MonitorReport | None = None
    next_at: datetime | None = None
    seconds: float = 0.0   # wall time the round took (listing + ingest + checks)


def watch_loop(data_dir: str | None = None, *, watcher: Watcher | None = None, analyse_new: bool = True,
               check: bool = True, check_every: timedelta = timedelta(minutes=10),
               confirm_after: timedelta = timedelta(hours=1), max_rounds: int | None = None,
               clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
               sleep: Callable[[float], None] = time.sleep,
               on_round: Callable[[WatchRound], None] | None = None,
               until: Callable[[], bool] | None = None) -> int:
    """Watch until interrupted (or ``max_rounds`` wake-ups): poll/relist each source when due, archive what is new,
    re-check archived videos every ``check_every``.

    Arguments: data_dir — the archive; watcher — the scheduler (default: the registry's intervals); analyse_new —
    run the stages on new uploads; check — re-check archived videos; check_every — how often; confirm_after — the
    removal confirmation interval; max_rounds — stop after this many wake-ups; clock, sleep — the time (tests move
    it); on_round — called with each ``WatchRound`` (the CLI prints it); until — stop once it returns True.
    Returns: the number of rounds run.
    """
    settings = settings_for(data_dir)
    settings.ensure_dirs()
    data = str(settings.data_dir)
    watcher = watcher or Watcher()
    next_check = clock()
    rounds = 0
    while max_rounds is None or rounds < max_rounds:
        now = clock()
        started = time.monotonic()
        rnd = WatchRound(at=now)
        try:
            with catalogue_for(settings) as store:
                watcher.sync(store, now)
                listings = watcher.run_due(store, now, confirm_after)
            rnd.sources = [lst.to_dict() for lst in listings]
            work: list[tuple[VideoRef, int | None]] = [(ref, lst.source_id) for lst in listings for ref in lst.new]
            if work:
                rnd.ingested = capture_flow(data, work, analyse_new)
            if check and now >= next_check:
                rnd.checks = monitor_flow(data_dir=data, relist=False, check=True, analyse_new=analyse_new, now=now,
                                          confirm_after_minutes=confirm_after.total_seconds() / 60)
                next_check = now + check_every
        except Exception:  # one bad round must not stop the watch; the next due time still comes
            log.exception("watch round failed")
        rnd.seconds = time.monotonic() - started
        times = [t for t in (watcher.next_due(), next_check if check else None) if t is not None]
        wake = min(times) if times else now + check_every   # nothing watched: look again for new sources later
        rnd.next_at = wake
        rounds += 1
        if on_round is not None:
            on_round(rnd)
        if (max_rounds is not None and rounds >= max_rounds) or (until is not None and until()):
            break
        sleep(max(0.0, (wake - clock()).total_seconds()))
    return rounds
