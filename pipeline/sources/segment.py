"""A closed segment of a recorded live stream (issue 25), archived like a fetched video.

``clipwatch record`` cuts a stream into MPEG-TS files and writes beside each one, once it is closed, a sidecar
``<file>.segment.json`` (``SIDECAR``): the channel, the stream URL, the segment's number and its air time. This
source accepts such a file, so a segment goes through the ingest entry point of a local file (``ingest_flow``) and
becomes a video whose provenance names the stream, not the recorder's work folder, with its air time in info.json.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline import __version__
from pipeline.domain import MediaRecord, VideoRecord, make_video_id, utcnow
from pipeline.errors import SourceError
from pipeline.media.probe import check_complete, ffmpeg_version, probe
from pipeline.sources.base import Discovery, FetchedVideo, FetchOptions, Source, VideoRef, codec_fields, is_url
from pipeline.storage.base import BlobStore
from pipeline.storage.files import atomic_write_json, fs_display

SIDECAR = ".segment.json"


@dataclass
class SegmentFacts:
    """What the recorder knows of a closed segment (the sidecar's content)."""

    channel: str
    stream_url: str
    seq: int
    air_start: str              # ISO 8601 UTC with milliseconds and Z
    air_end: str
    air_clock: str              # stream | receiver
    recording: str = ""         # the recording session the segment belongs to
    closed_by: str = "segment"  # segment (its length reached) | gap | stop | restart (cut short by a crash)

    def write(self, media: Path) -> None:
        """Write the sidecar beside ``media`` (atomically: a sidecar present means a closed segment)."""
        atomic_write_json(sidecar_of(media), asdict(self))

    @classmethod
    def read(cls, media: Path) -> "SegmentFacts":
        try:
            d = json.loads(sidecar_of(media).read_text(encoding="utf-8"))
            return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
        except (OSError, ValueError, TypeError) as exc:
            raise SourceError(f"{fs_display(str(media))}: unreadable segment facts ({exc}); "
                              "record the stream again or ingest the file as a plain video") from None


def sidecar_of(media: Path) -> Path:
    return media.with_name(media.name + SIDECAR)


def segment_video_id(facts: SegmentFacts) -> str:
    """A segment's video id: its channel and air start (so the same air time recorded again is the same video)."""
    return make_video_id("record", platform_id(facts), facts.stream_url)


def platform_id(facts: SegmentFacts) -> str:
    stamp = facts.air_start.replace("-", "").replace(":", "").replace(".", "")  # 20261206T201433120Z
    return f"{facts.channel}-{stamp}"


class RecordedSegmentSource(Source):
    name = "segment"

    def accepts(self, text: str) -> bool:
        return not is_url(text) and sidecar_of(Path(text)).is_file()

    def discover(self, text: str, max_depth: int = 2) -> Discovery:
        path = Path(text).resolve()
        facts = SegmentFacts.read(path)
        return Discovery(facts.stream_url, "stream", facts.channel,
                         [VideoRef(str(path), facts.stream_url, _title(facts), True)])

    def fetch(self, url: str, archive: BlobStore, options: FetchOptions, source_url: str) -> FetchedVideo:
        path = Path(url)
        facts = SegmentFacts.read(path)
        vid = segment_video_id(facts)
        info = {"id": platform_id(facts), "title": _title(facts), "extractor": "record", "extractor_key": "Record",
                "webpage_url": facts.stream_url, "channel": facts.channel, "segment": asdict(facts)}
        video = VideoRecord(id=vid, extractor="record", platform_id=platform_id(facts), webpage_url=facts.stream_url,
                            source_url=facts.stream_url, title=_title(facts), channel=facts.channel,
                            channel_id=facts.channel, upload_date=facts.air_start[:10].replace("-", ""))
        if options.is_archived(vid):
            return FetchedVideo(video=video, info=info, skipped=True)
        media_info = probe(path)
        check_complete(path, media_info)
        stored = archive.store_media(path, path.suffix.lstrip(".") or "ts")
        video.duration = media_info.duration
        media = MediaRecord(
            sha256=stored.sha256, video_id=vid, path=stored.path, size=stored.size, fetched_at=utcnow(),
            fetch_started_at=facts.air_start, fetcher="clipwatch-record", fetcher_version=_ffmpeg(),
            clipwatch_version=__version__, source_url=facts.stream_url, final_url=facts.stream_url,
            format_id=f"segment {facts.seq} ({facts.air_clock} clock, {facts.air_start} – {facts.air_end})",
            **codec_fields(media_info),
        )
        return FetchedVideo(video=video, info=info, media=media, media_info=media_info)


def _title(facts: SegmentFacts) -> str:
    return f"{facts.channel} {facts.air_start[:19].replace('T', ' ')} UTC"


def _ffmpeg() -> str | None:
    try:
        return ffmpeg_version()
    except Exception:  # noqa: BLE001 - the version is provenance, not a requirement
        return None
