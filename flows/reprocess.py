"""Re-run analysis stages on archived videos (a new model, a new detector, a fixed bug).

Nothing is downloaded. With ``force`` every chosen stage runs again; without it
a stage runs only where its key (media hash + version + parameters) changed,
e.g. after switching the Whisper model.
"""

from __future__ import annotations

from prefect import flow

from pipeline.config import Settings

from .batch import IngestReport, reprocess_videos
from .ingest import STEPS


@flow(name="reprocess")
def reprocess_flow(video_ids: list[str] | None = None, settings: Settings | None = None, force: bool = False) -> IngestReport:
    return reprocess_videos(video_ids, settings or Settings(), force, STEPS)
