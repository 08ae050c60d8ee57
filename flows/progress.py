"""Where flows report progress. The CLI installs a Rich reporter; the default logs."""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger("clipwatch.flow")


class Reporter(Protocol):
    def discovered(self, source: str, count: int, kind: str) -> None: ...
    def stage_start(self, video: str, stage: str, total: float | None = None) -> None: ...
    def stage_progress(self, video: str, stage: str, done: float, total: float | None) -> None: ...
    def stage_end(self, video: str, stage: str, status: str, message: str) -> None: ...


class LogReporter:
    def discovered(self, source: str, count: int, kind: str) -> None:
        log.info("%s: %d video(s) (%s)", source, count, kind)

    def stage_start(self, video: str, stage: str, total: float | None = None) -> None:
        log.info("%s: %s…", video, stage)

    def stage_progress(self, video: str, stage: str, done: float, total: float | None) -> None:
        pass

    def stage_end(self, video: str, stage: str, status: str, message: str) -> None:
        log.info("%s: %s %s %s", video, stage, status, message)


_reporter: Reporter = LogReporter()


def set_reporter(reporter: Reporter | None) -> None:
    global _reporter
    _reporter = reporter or LogReporter()


def reporter() -> Reporter:
    return _reporter
