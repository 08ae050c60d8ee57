"""Re-run analysis stages on archived videos (a new model, a new detector, a fixed bug).

Nothing is downloaded. With ``force`` every chosen stage runs again; without it
a stage runs only where its key (media hash + version + parameters) changed,
e.g. after switching the Whisper model.
"""

from __future__ import annotations

from prefect import flow

from pipeline.config import Settings
from pipeline.storage.base import catalogue_for

from .ingest import IngestReport, VideoReport, analyse, update_semantic_index


@flow(name="reprocess")
def reprocess_flow(video_ids: list[str] | None = None, settings: Settings | None = None, force: bool = False) -> IngestReport:
    settings = settings or Settings()
    with catalogue_for(settings) as store:
        ids = [store.get_video(v)["id"] for v in video_ids] if video_ids else [r["id"] for r in store.list_videos(10**9)]
        titles = {i: store.get_video(i)["title"] for i in ids}
    report = IngestReport()
    for vid in ids:
        vr = VideoReport(ref=vid, video_id=vid, title=titles[vid])
        report.videos.append(vr)
        analyse(vid, settings, vr, force)
    update_semantic_index(settings, report)
    return report
