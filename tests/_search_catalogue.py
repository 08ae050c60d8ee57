"""A small catalogue for the search, web and browser tests, built through Store methods.

Four videos: a Korean bulletin with an English translation (YouTube URL), an
English ministry statement (a non-YouTube URL, with a real archived mp4 when
``with_media``), a removed video with a hostile title, and a long daily report
for pagination.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.asr import Segment, Transcript
from pipeline.config import Settings
from pipeline.domain import MediaRecord, VideoRecord
from pipeline.shots.keyframes import Keyframe
from pipeline.storage.sqlite.catalogue import Store
from pipeline.tagging.model import Tag

HOSTILE = "<script>alert(1)</script>"



def _transcript(lang: str, lines: list[tuple[float, float, str]], task: str = "transcribe", flags: dict[int, list[str]] | None = None) -> Transcript:
    flags = flags or {}
    return Transcript(
        language=lang, language_probability=0.99, duration=lines[-1][1], model="test", engine="fixture",
        engine_version="0", task=task,
        segments=[Segment(start=a, end=b, text=t, flags=flags.get(i, [])) for i, (a, b, t) in enumerate(lines)],
    )


def make_media(dest: Path, seconds: int = 20, fmt: str = "mp4") -> Path:
    """A small test clip: lavfi testsrc + a sine tone (webm: VP9/Opus, mp4: H.264/AAC)."""
    from pipeline.media.probe import run_ffmpeg

    dest.parent.mkdir(parents=True, exist_ok=True)
    common = ["-f", "lavfi", "-i", f"testsrc=size=160x120:rate=10:duration={seconds}",
              "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-shortest"]
    if fmt == "webm":
        codec = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "100k", "-c:a", "libopus", "-b:a", "32k"]
    else:
        codec = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "10", "-c:a", "aac", "-b:a", "32k",
                 "-movflags", "+faststart"]
    run_ffmpeg([*common, *codec, str(dest)])
    return dest


def _jpeg(path: Path, shade: int) -> None:
    import cv2
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((90, 160, 3), shade, np.uint8)
    cv2.imwrite(str(path), img)


def build_catalogue(data_dir: Path, media: Path | None = None) -> Settings:
    """Fill ``data_dir`` with the test catalogue; returns Settings pointing at it."""
    s = Settings(data_dir=data_dir)
    s.ensure_dirs()
    arch = s.archive_dir
    with Store(s.db_path) as st:
        # 1. Korean bulletin with an English translation, YouTube URL.
        v1 = VideoRecord(id="youtube-kb1-aaaaaa", extractor="youtube", platform_id="kb1",
                         webpage_url="https://www.youtube.com/watch?v=kb1", source_url="https://www.youtube.com/watch?v=kb1",
                         title="저녁 보도 Evening bulletin", channel="KCTV Archive", channel_id="UCkctv",
                         channel_url="https://www.youtube.com/channel/UCkctv", upload_date="2018-03-05", duration=18.0)
        st.upsert_video(v1, "videos/youtube-kb1-aaaaaa")
        sha1 = hashlib.sha256(b"kb1").hexdigest()
        st.add_media_file(MediaRecord(sha256=sha1, video_id=v1.id, path=f"media/{sha1[:2]}/{sha1}.mp4", size=1,
                                      fetched_at="2024-01-02T03:04:05Z", fetcher="yt-dlp", fetcher_version="2026.10.26",
                                      source_url=v1.source_url))
        st.replace_transcript(v1.id, sha1, "original", _transcript("ko", [
            (0.0, 4.0, "조선중앙텔레비죤 저녁 보도입니다."),
            (4.0, 9.0, "우리는 핵무력을 더욱 강화할 것입니다."),
            (9.0, 14.0, "핵무력강화는 우리의 길이다."),
            (14.0, 18.0, "경제 건설에 총력을 집중하자."),
        ]), None)
        st.replace_transcript(v1.id, sha1, "translation", _transcript("en", [
            (0.0, 4.0, "This is the Korean Central Television evening report."),
            (4.0, 9.0, "We will further strengthen our nuclear forces."),
            (9.0, 14.0, "Strengthening the nuclear force is our path."),
            (14.0, 18.0, "Let us concentrate all efforts on economic construction."),
        ], task="translate"), None)
        kf1 = [Keyframe(i, a, b, a + 0.5, f"videos/youtube-kb1-aaaaaa/keyframes/{i:04d}.jpg", 0x1234 + i)
               for i, (a, b) in enumerate([(0.0, 6.0), (6.0, 12.0), (12.0, 18.0)])]
        st.replace_keyframes(v1.id, sha1, kf1, "test", "0")
        st.replace_tags(v1.id, [Tag("news", 0.9, True, ["channel registry: KCTV"]), Tag("propaganda", 0.7, True, ["keyword: 핵무력"])], "rules-1")
        st.add_event("fetched", video_id=v1.id, media_sha256=sha1, detail={"fetcher": "yt-dlp"})

        # 2. English ministry statement, non-YouTube URL, real file when given.
        v2 = VideoRecord(id="generic-ministry-bbbbbb", extractor="generic", platform_id="ministry",
                         webpage_url="http://127.0.0.1:9/ministry-statement.mp4", source_url="http://127.0.0.1:9/ministry-statement.mp4",
                         title="Ministry statement", channel="Ministry TV", upload_date="2019-07-01", duration=20.0)
        st.upsert_video(v2, "videos/generic-ministry-bbbbbb")
        if media is not None:
            from pipeline.storage.files import Archive

            stored = Archive(arch).store_media(media, media.suffix.lstrip("."))
            sha2, path2, size2 = stored.sha256, stored.path, stored.size
        else:
            sha2 = hashlib.sha256(b"ministry").hexdigest()
            path2, size2 = f"media/{sha2[:2]}/{sha2}.mp4", 1
        st.add_media_file(MediaRecord(sha256=sha2, video_id=v2.id, path=path2, size=size2, fetched_at="2024-02-03T04:05:06Z",
                                      fetcher="yt-dlp", fetcher_version="2026.10.26", source_url=v2.source_url))
        st.replace_transcript(v2.id, sha2, "original", _transcript("en", [
            (0.0, 3.0, "The ministry issued a statement on the nuclear deterrent."),
            (3.0, 7.0, "Officials said the deterrent remains strong."),
            (7.0, 12.0, "Café owners in the capital welcomed the decision."),
            (12.0, 16.0, "Nuclear talks will resume next week, the minister said."),
            (16.0, 20.0, "Weather: rain in the north, sunshine in the south."),
        ]), None)
        kf2 = [Keyframe(i, a, b, a + 1.0, f"videos/generic-ministry-bbbbbb/keyframes/{i:04d}.jpg", 0x9999 + i)
               for i, (a, b) in enumerate([(0.0, 5.0), (5.0, 10.0), (10.0, 15.0), (15.0, 20.0)])]
        st.replace_keyframes(v2.id, sha2, kf2, "test", "0")
        st.replace_tags(v2.id, [Tag("news", 0.8, True, ["title: statement"]), Tag("music", 0.05, False, [])], "rules-1")
        st.add_event("fetched", video_id=v2.id, media_sha256=sha2, detail={"fetcher": "yt-dlp"})
        for k in kf1 + kf2:
            _jpeg(arch / k.path, 40 + 20 * k.shot_index)

        # 3. Removed video with a hostile title and channel; one flagged (unindexed) segment.
        v3 = VideoRecord(id="youtube-hostile-cccccc", extractor="youtube", platform_id="hostile",
                         webpage_url="https://youtu.be/hostile", source_url="https://youtu.be/hostile",
                         title=HOSTILE, channel="Hostile <b>Channel</b>", upload_date="2017-01-15", duration=10.0,
                         description='"><img src=x onerror=alert(2)>')
        st.upsert_video(v3, "videos/youtube-hostile-cccccc")
        sha3 = hashlib.sha256(b"hostile").hexdigest()
        st.add_media_file(MediaRecord(sha256=sha3, video_id=v3.id, path=f"media/{sha3[:2]}/{sha3}.mp4", size=1,
                                      fetched_at="2023-05-06T07:08:09Z", fetcher="yt-dlp"))
        st.replace_transcript(v3.id, sha3, "original", _transcript("en", [
            (0.0, 5.0, "A song about the nuclear deterrent and the factory <b>bold</b>."),
            (5.0, 10.0, "nuclear nuclear nuclear nuclear"),
        ], flags={1: ["repetition"]}), None)
        st.replace_tags(v3.id, [Tag("music", 0.8, True, ["audio: tonal"]), Tag("propaganda", 0.4, False, ["keyword: factory"])], "rules-1")
        st.set_video_fields(v3.id, status="removed", status_kind="removed-by-platform",
                            status_reason="This video has been removed <i>for violating</i> terms", status_changed_at="2024-06-01T00:00:00Z")
        st.add_event("fetched", video_id=v3.id, media_sha256=sha3)
        st.add_event("removed", video_id=v3.id, detail={"reason": "This video has been removed"})

        # 4. A long daily report: 30 lines mentioning the harvest, for pagination.
        v4 = VideoRecord(id="generic-daily-dddddd", extractor="generic", platform_id="daily",
                         webpage_url="https://example.org/daily?id=4", source_url="https://example.org/daily?id=4",
                         title="Daily report", channel="Ministry TV", upload_date="2016-05-05", duration=300.0)
        st.upsert_video(v4, "videos/generic-daily-dddddd")
        sha4 = hashlib.sha256(b"daily").hexdigest()
        st.add_media_file(MediaRecord(sha256=sha4, video_id=v4.id, path=f"media/{sha4[:2]}/{sha4}.mp4", size=1,
                                      fetched_at="2022-01-01T00:00:00Z", fetcher="local-file"))
        st.replace_transcript(v4.id, sha4, "original", _transcript("en", [
            (i * 10.0, i * 10.0 + 9.0, f"Report number {i} mentions the harvest in province {i % 5}.") for i in range(30)
        ]), None)
    return s
