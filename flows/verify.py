"""The verify flow: re-hash every archived original (or the named videos), one task per video.

Each task records ``verified`` / ``corrupt`` / ``missing-file`` events through
``pipeline.preservation.fixity.verify``; the flow returns the combined result. Schedule it
like the monitor flow (e.g. weekly) to prove the archive intact over time.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from pipeline.config import Settings
from pipeline.preservation import fixity
from pipeline.storage.base import blob_store_for, catalogue_for


@task(name="verify-video", cache_policy=NO_CACHE)
def verify_task(video_id: str, settings: Settings) -> fixity.VerifyResult:
    with catalogue_for(settings, reading=True) as store:
        return fixity.verify(store, blob_store_for(settings), [video_id], chain=False)


@flow(name="verify", log_prints=False)
def verify_flow(data_dir: str | None = None, video_ids: list[str] | None = None) -> fixity.VerifyResult:
    settings = Settings(data_dir=data_dir) if data_dir else Settings()
    with catalogue_for(settings, reading=True) as store:
        ids = fixity.resolve_ids(store, video_ids)
        chain = store.chain_report()  # walked once, before this run's events
    total = fixity.VerifyResult(videos=ids, chain=chain)
    # One video at a time: hashing is disk-bound, parallel reads only make it slower.
    for vid in ids:
        part = verify_task(vid, settings)
        total.files.extend(part.files)
        total.bytes_hashed += part.bytes_hashed
        total.derivatives_checked += part.derivatives_checked
        total.head, total.recorded = part.head, part.recorded
    return total
