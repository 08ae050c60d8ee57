"""News / music / propaganda scores with their evidence, from the job's transcript, profile and metadata."""

from __future__ import annotations

import time

from pipeline.stages.base import Job, Progress, Stage, StageOutcome
from pipeline.tagging import model as tagging


class TagStage(Stage):
    name = "tag"
    joins = True  # its key names every transcript of the video, text on screen (picture lane) included
    skip_message = "already tagged by this model version"

    def key(self, job: Job) -> str:
        # The model's weights, the lexicon and the channel registry it reads (MODEL_VERSION carries all three),
        # and which transcripts exist: a new transcript or an edited data file re-tags on `reprocess`.

        tr_rows = {r["kind"]: r["id"] for r in job.store.transcript_rows(job.video_id)}
        profile = job.store.audio_profile_row(job.video_id)
        return (f"{job.media_sha256}:{tagging.MODEL_VERSION}:" + ",".join(f"{k}={v}" for k, v in sorted(tr_rows.items()))
                + f":audio={profile['model_version'] if profile else '-'}")

    def run(self, job: Job, progress: Progress | None = None) -> StageOutcome:
        t0 = time.perf_counter()
        job.load_transcripts()
        inp = tagging.input_from_video(job.video, job.transcript, job.translation, job.load_profile())
        result = tagging.tag_video(inp)
        job.store.replace_tags(job.video_id, result.tags, result.model_version)
        detail = {t.category: round(t.score, 3) for t in result.tags}
        shown = ", ".join(f"{t.category} {t.score:.2f}" for t in sorted(result.tags, key=lambda t: -t.score) if t.decision) or "no category"
        return StageOutcome(job.video_id, self.name, "done", shown, time.perf_counter() - t0, detail)
