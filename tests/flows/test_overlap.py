"""One overlapped pass per video (issue 19): the picture lane runs beside the audio lane, copies and the tagger
at the join; every stage recorded as before; a failing picture stage leaves the audio job; no Prefect when no
server is configured."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from flows import batch
from pipeline.config import Settings
from pipeline.errors import ClipwatchError
from pipeline.stages import STAGES, Job
from pipeline.stages.base import Stage, StageOutcome
from pipeline.stages.keyframes import KeyframesStage
from pipeline.stages.runner import run_stage
from pipeline.storage.sqlite.catalogue import Store
from pipeline.testing.media import make_speech_video

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0  # how long a lane waits for the other before calling the run sequential (never reached when overlapped)


@pytest.fixture
def clip(tmp_path) -> Path:
    """A few seconds of synthetic speech over a picture (espeak-ng), with a cut."""
    return make_speech_video(tmp_path / "clip.mp4", "The nuclear deterrent was strengthened by the workers.")


class Rendezvous:
    """Each lane's stage says it started and waits for the other's: both see each other only if they overlap."""

    def __init__(self) -> None:
        self.pictures, self.audio = threading.Event(), threading.Event()
        self.order: list[str] = []


def rendezvous_stages(rv: Rendezvous) -> tuple[type[Stage], ...]:
    class Pictures(Stage):
        name, pool = "pictures", "media"

        def key(self, job: Job) -> str:
            return f"{job.media_sha256}:1"

        def run(self, job, progress=None) -> StageOutcome:
            rv.pictures.set()
            saw = rv.audio.wait(WAIT)
            rv.order.append(self.name)
            job.keyframes = "picture lane's keyframes"
            return StageOutcome(job.video_id, self.name, "done", detail={"saw_other": saw})

    class Audio(Stage):
        name = "sound"

        def key(self, job: Job) -> str:
            return f"{job.media_sha256}:1"

        def run(self, job, progress=None) -> StageOutcome:
            rv.audio.set()
            saw = rv.pictures.wait(WAIT)
            rv.order.append(self.name)
            return StageOutcome(job.video_id, self.name, "done", detail={"saw_other": saw})

    class Join(Stage):
        name, joins = "join", True

        def key(self, job: Job) -> str:
            return f"{job.media_sha256}:1"

        def run(self, job, progress=None) -> StageOutcome:
            rv.order.append(self.name)
            return StageOutcome(job.video_id, self.name, "done", detail={"keyframes": job.keyframes})

    return (Pictures, Audio, Join)


def test_the_picture_lane_runs_beside_the_audio_lane_and_the_join_after_both(clip, settings, monkeypatch):
    rv = Rendezvous()
    monkeypatch.setattr(batch, "STAGES", rendezvous_stages(rv))
    report = batch.ingest([str(clip)], settings)
    assert report.failed == 0, report.to_dict()
    (video,) = report.videos
    assert video.stages == {"fetch": "done", "pictures": "done", "sound": "done", "join": "done"}
    with Store(settings.db_path) as store:
        runs = {r["stage"]: r for r in store.stage_runs(video.video_id)}
    import json

    details = {k: json.loads(r["detail"]) for k, r in runs.items()}
    # each lane's stage saw the other one running: they overlapped (sequential lanes would each wait in vain)
    assert details["pictures"]["saw_other"] and details["sound"]["saw_other"]
    # the join runs last, with what the picture lane found handed over
    assert rv.order[-1] == "join" and details["join"]["keyframes"] == "picture lane's keyframes"
    spans = video.spans
    assert spans["join"][0] >= max(spans["pictures"][1], spans["sound"][1])
    assert spans["pictures"][0] < spans["sound"][1] and spans["sound"][0] < spans["pictures"][1]


def _sequential(settings: Settings, clip: Path) -> dict:
    """The stages one after another in pipeline order, as the flow ran them before issue 19."""
    from pipeline.sources.fetch import fetch
    from pipeline.stages.runner import record_fetch
    from pipeline.storage.base import blob_store_for

    archive = blob_store_for(settings)
    with Store(settings.db_path) as store:
        fetched = fetch(str(clip), archive)
        record_fetch(store, archive, fetched, None)
        with Job(store, archive, settings, fetched.video.id) as job:
            return {cls.name: run_stage(job, cls()).status for cls in STAGES}


def _facts(settings: Settings) -> dict:
    with Store(settings.db_path) as store:
        (vid,) = store.video_ids()
        transcript = [s["text"] for s in store.segments(vid)] if hasattr(store, "segments") else None
        return {
            # the kinds of event; how many `attested` events there are depends on which stages finished between
            # two attestations (one attestation may cover two lanes' rows), the digests they end with do not
            "events": sorted(set(e["kind"] for e in store.events())),
            "fetched": sum(e["kind"] == "fetched" for e in store.events()),
            # the tagger's key names each transcript row by its id: the lanes store the screen text and the
            # transcript in whichever order they finish, so the ids (not the rows named) may be swapped
            "stage_keys": {r["stage"]: re.sub(r"(original|translation|screen)=\d+", r"\1=#", r["key"])
                           for r in store.stage_runs(vid)},
            "keyframes": [(k["time"], k["phash"]) for k in store.keyframes(vid)],
            "transcripts": sorted(r["kind"] for r in store.transcript_rows(vid)),
            "tags": sorted((t["category"], round(t["score"], 6)) for t in store.tags(vid)),
            "chain_ok": store.chain_report().ok,
            "text": transcript,
        }


@pytest.mark.slow
def test_same_outcomes_events_and_keys_as_the_sequential_pass(clip, tmp_path, monkeypatch):
    one = Settings(data_dir=tmp_path / "seq", model="tiny.en", translate=False, semantic=False)
    two = Settings(data_dir=tmp_path / "ovl", model="tiny.en", translate=False, semantic=False)
    one.ensure_dirs()
    before = _sequential(one, clip)
    report = batch.ingest([str(clip)], two)
    (video,) = report.videos
    assert video.stages == {"fetch": "done", **before}, (video.stages, before)
    facts_one, facts_two = _facts(one), _facts(two)
    assert facts_one["stage_keys"] == facts_two["stage_keys"]
    assert facts_one == facts_two
    # the lanes overlapped on the real stages: the picture lane (keyframes → text on screen) and the audio lane
    # (audio profile → Whisper → speakers) were running at the same time
    pic = [video.spans[c.name] for c in batch.lane_stages("pictures")]
    aud = [video.spans[c.name] for c in batch.lane_stages("audio")]
    assert max(pic[0][0], aud[0][0]) < min(pic[-1][1], aud[-1][1]), video.spans
    # the audio profile and then the speakers (beside the audio lane) were made while Whisper ran: Whisper did not
    # wait for the profile (it reads it only to flag its segments, the same flags as the sequential pass above)
    assert [c.name for c in batch.lane_stages("beside")] == ["audio", "speakers"]
    assert [c.name for c in batch.lane_stages("audio")] == ["transcribe"]
    assert video.spans["transcribe"][0] < video.spans["audio"][1], video.spans
    assert video.spans["audio"][1] <= video.spans["speakers"][0] < video.spans["transcribe"][1], video.spans
    # and a second ingest skips every stage, --force redoes every one, as before
    again = batch.ingest([str(clip)], two)
    assert set(again.videos[0].stages.values()) == {"skipped"}, again.videos[0].stages
    forced = batch.ingest([str(clip)], two, force=True)
    assert {k: v for k, v in forced.videos[0].stages.items() if k != "fetch"} == before


@pytest.mark.slow
def test_a_failing_picture_stage_leaves_the_audio_job(clip, settings, monkeypatch):
    def broken(self, job, progress=None):
        raise ClipwatchError("the frame reader broke")

    monkeypatch.setattr(KeyframesStage, "run", broken)
    report = batch.ingest([str(clip)], settings)
    (video,) = report.videos
    assert video.status == "failed" and video.stages["keyframes"] == "failed"
    assert video.messages["keyframes"] == "the frame reader broke"
    for name in ("audio", "transcribe", "speakers", "copies", "tag"):
        assert video.stages[name] == "done", (name, video.stages, video.messages)
    with Store(settings.db_path) as store:
        failed = [e for e in store.events() if e["kind"] == "failed"]
        assert len(failed) == 1 and "keyframes" in failed[0]["detail"]
        assert "keyframes" not in {r["stage"] for r in store.stage_runs(video.video_id)}
    # once the stage works again, the next ingest runs it (and what reads it) and skips the rest
    monkeypatch.undo()
    again = batch.ingest([str(clip)], settings)
    assert again.videos[0].stages["keyframes"] == "done" and again.videos[0].stages["transcribe"] == "skipped"


@pytest.mark.slow
def test_clipwatch_ingest_without_a_prefect_server_never_imports_prefect(clip, tmp_path):
    """No PREFECT_API_URL: `clipwatch ingest` runs the pass here — Prefect is not imported, no temporary API
    server starts."""
    code = (
        "import sys\n"
        "from pipeline.cli import main\n"
        f"sys.argv = ['clipwatch', '--data-dir', {str(tmp_path / 'data')!r}, 'ingest', {str(clip)!r},"
        " '--model', 'tiny.en', '--no-translate', '--json']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\nelse:\n    code = 0\n"
        "print('PREFECT', sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))[:3], file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"transcribe": "done"' in proc.stdout
    assert "PREFECT []" in proc.stderr, proc.stderr[-2000:]


@pytest.mark.slow
def test_the_prefect_flow_runs_the_same_overlapped_pass(prefect_harness, clip, settings, monkeypatch):
    """With Prefect (a server configured, or a caller of ingest_flow), every step is a task of the flow run and
    the lanes still overlap."""
    from flows.ingest import ingest_flow

    rv = Rendezvous()
    monkeypatch.setattr(batch, "STAGES", rendezvous_stages(rv))
    report = ingest_flow([str(clip)], settings)
    (video,) = report.videos
    assert video.stages == {"fetch": "done", "pictures": "done", "sound": "done", "join": "done"}, report.to_dict()
    assert rv.pictures.is_set() and rv.audio.is_set() and rv.order[-1] == "join"
    assert video.spans["pictures"][0] < video.spans["sound"][1] and video.spans["sound"][0] < video.spans["pictures"][1]


def test_with_a_prefect_server_configured_the_temporary_servers_module_is_not_imported(tmp_path):
    """configure_prefect guards Prefect's temporary API server only when one may start (no PREFECT_API_URL)."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from flows import configure_prefect\n"
        "from pipeline.config import Settings\n"
        f"configure_prefect(Settings(data_dir=Path({str(tmp_path / 'data')!r})))\n"
        "print('prefect.server.api.server' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with_server = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 env={**env, "PREFECT_API_URL": "http://127.0.0.1:9/api"})
    assert with_server.returncode == 0, with_server.stderr[-2000:]
    assert with_server.stdout.split() == ["False"]
    env.pop("PREFECT_API_URL", None)
    without = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert without.stdout.split() == ["True"], without.stderr[-2000:]


def test_work_beside_whisper_runs_at_background_priority():
    seen: dict = {}

    def lane() -> None:
        batch.background_priority()
        seen["lane"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        inner = threading.Thread(target=lambda: seen.update(child=os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        inner.start()
        inner.join()

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    t = threading.Thread(target=lane)
    t.start()
    t.join()
    # the lane thread (and what it starts: decoder threads) yields to Whisper; the caller's priority is untouched
    assert seen == {"lane": max(before, batch.BACKGROUND_NICE), "child": max(before, batch.BACKGROUND_NICE)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before


def test_a_videos_join_runs_beside_the_next_videos_audio_lane(tmp_path, settings, monkeypatch):
    """Copies and the tagger of video 1 do not hold up video 2's Whisper: they run on the batch's join lane."""
    first = make_speech_video(tmp_path / "one.mp4", "The first bulletin.")
    second = make_speech_video(tmp_path / "two.mp4", "The second bulletin, a little longer.")
    second_audio = threading.Event()
    seen: dict[str, bool] = {}
    order: list[str] = []

    class Sound(Stage):
        name = "sound"

        def key(self, job: Job) -> str:
            return f"{job.media_sha256}:1"

        def run(self, job, progress=None) -> StageOutcome:
            if job.media_path.stat().st_size == second_size:
                second_audio.set()
            order.append(f"sound:{job.video_id}")
            return StageOutcome(job.video_id, self.name, "done", detail={"samples": int(job.samples().size)})

    class Join(Stage):
        name, joins = "join", True

        def key(self, job: Job) -> str:
            return f"{job.media_sha256}:1"

        def run(self, job, progress=None) -> StageOutcome:
            if job.media_path.stat().st_size != second_size:
                seen["next_audio_started"] = second_audio.wait(WAIT)
            order.append(f"join:{job.video_id}")
            # the audio decoded by the audio lane, handed over (not decoded again) and still readable here
            return StageOutcome(job.video_id, self.name, "done", detail={"samples": int(job.samples().size)})

    second_size = second.stat().st_size
    assert first.stat().st_size != second_size
    monkeypatch.setattr(batch, "STAGES", (Sound, Join))
    decodes = []
    real = Job._decoded

    def counted(self):
        if self._samples is None:
            decodes.append(self.video_id)
        return real(self)

    monkeypatch.setattr(Job, "_decoded", counted)
    report = batch.ingest([str(first), str(second)], settings)
    assert report.failed == 0, report.to_dict()
    assert seen == {"next_audio_started": True}
    assert [v.stages for v in report.videos] == [{"fetch": "done", "sound": "done", "join": "done"}] * 2
    assert sorted(decodes) == sorted(v.video_id for v in report.videos)  # one decode per video
    assert not list((settings.data_dir / "cache" / "pcm").glob("*.f32"))  # every PCM file released


def test_freed_heap_pages_go_back_once_per_video_after_its_join(tmp_path, settings, monkeypatch):
    """release_free_memory (malloc_trim) runs once per video, when its join stages are over, a failed one too."""
    first = make_speech_video(tmp_path / "one.mp4", "The first bulletin.")
    second = make_speech_video(tmp_path / "two.mp4", "The second bulletin, a little longer.")
    order: list[str] = []

    class Join(Stage):
        name, joins = "join", True

        def key(self, job: Job) -> str:
            return f"{job.media_sha256}:1"

        def run(self, job, progress=None) -> StageOutcome:
            order.append(f"join:{job.video_id}")
            if job.media_path.stat().st_size == second.stat().st_size:
                raise ClipwatchError("the join of the second video fails")
            return StageOutcome(job.video_id, self.name, "done")

    monkeypatch.setattr(batch, "STAGES", (Join,))
    monkeypatch.setattr(batch, "release_free_memory", lambda: order.append("released") or True)
    report = batch.ingest([str(first), str(second)], settings)
    assert sorted(v.stages["join"] for v in report.videos) == ["done", "failed"]
    joins = [f"join:{v.video_id}" for v in report.videos]
    # each video's join, then its release: never before its join, never left out
    assert sorted(order[0::2]) == sorted(joins) and order[1::2] == ["released", "released"]
