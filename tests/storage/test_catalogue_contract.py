"""The catalogue contract (``pipeline.storage.base.Catalogue``), run alike on SQLite and on PostgreSQL (a throwaway
cluster the tests start): videos, media, the events chain, segments and the search index, tags, copies, stage runs,
metadata versions, source checks. Each test opens a fresh, empty catalogue and talks to it only through its methods.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from pipeline.domain import MediaRecord, VideoRecord, pack_words, unpack_words
from pipeline.errors import NotFoundError
from pipeline.search.query import plan
from pipeline.storage.base import Catalogue, SearchIndex, open_catalogue
from pipeline.storage.chain import GENESIS
from pipeline.storage.searchindex import DOUBT, WORD, Filters


@pytest.fixture(params=["sqlite", "postgresql"])
def cat(request, tmp_path):
    """A fresh catalogue of each kind, opened by URL as the application opens it."""
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'clipwatch.db'}"
    else:
        url = request.getfixturevalue("pg").create_database(f"c_{uuid.uuid4().hex[:10]}")
    with open_catalogue(url) as c:
        yield c


def video(vid: str, **kw) -> VideoRecord:
    return VideoRecord(id=vid, extractor="generic", platform_id=vid, webpage_url=f"https://e.org/{vid}",
                       source_url="https://e.org/feed", **kw)


def media(sha: str, vid: str, **kw) -> MediaRecord:
    return MediaRecord(sha256=sha, video_id=vid, path=f"media/{sha[:2]}/{sha}.mp4", size=10,
                       fetched_at=kw.pop("fetched_at", "2024-01-01T00:00:00Z"), fetcher="yt-dlp", **kw)


def transcript(lines, language="en"):
    segs = [SimpleNamespace(start=float(i), end=float(i) + 1, text=f" {t} ", avg_logprob=-0.1, no_speech_prob=0.01,
                            compression_ratio=1.2, flags=list(flags), words=words)
            for i, (t, flags, words) in enumerate(lines)]
    return SimpleNamespace(language=language, language_probability=0.9, model="tiny", engine="fake",
                           engine_version="1", duration=float(len(lines)), segments=segs)


def tag(category, score, decision, evidence=("x",)):
    return SimpleNamespace(category=category, score=score, decision=decision, evidence=list(evidence))


def test_it_is_a_catalogue(cat):
    assert isinstance(cat, Catalogue) and isinstance(cat.search_index, SearchIndex)
    assert cat.readonly is False


def test_videos(cat):
    assert cat.upsert_video(video("alpha-1", title="One", channel="Ministry TV", upload_date="20190105"), "videos/a")
    assert cat.upsert_video(video("beta-2", title="Two", uploader="ministry tv", upload_date="20200101"), "videos/b")
    assert cat.upsert_video(video("alpha-1", title="One"), "videos/a") is False  # same metadata: unchanged
    assert cat.upsert_video(video("alpha-1", title="One, edited"), "videos/a") is True
    v = cat.get_video("alpha-1")
    assert (v["title"], v["channel"], v["folder"], v["status"]) == ("One, edited", "Ministry TV", "videos/a", "available")
    assert cat.get_video("bet")["id"] == "beta-2"  # an unambiguous prefix
    with pytest.raises(NotFoundError):
        cat.get_video("nope")
    with pytest.raises(NotFoundError):
        cat.get_video("%")  # LIKE's wildcard is a character here, not "anything"
    assert cat.find_video("nope") is None and cat.find_video("alpha-1")["id"] == "alpha-1"
    assert cat.video_count() == 2 and cat.all_videos()[0]["id"] in ("alpha-1", "beta-2")
    assert [r["id"] for r in cat.list_videos()] == ["beta-2", "alpha-1"]  # newest upload first
    assert cat.video_ids() == ["alpha-1", "beta-2"] and cat.video_ids("upload") == ["alpha-1", "beta-2"]
    assert cat.video_ids_by_channel("MINISTRY TV") == ["alpha-1", "beta-2"]  # channel or uploader, any case
    assert cat.video_ids_by_title("EDITED") == ["alpha-1"]
    assert cat.video_urls() == {"https://e.org/alpha-1", "https://e.org/beta-2"}
    assert cat.checkable_video_ids() == ["alpha-1", "beta-2"]
    cat.set_video_fields("beta-2", status="removed", failed_checks=2)
    assert cat.status_counts() == {"available": 1, "removed": 1}
    cat.set_video_fields("alpha-1", failed_checks=1)
    assert cat.suspect_count() == 1
    with pytest.raises(ValueError):
        cat.set_video_fields("alpha-1", **{"title = 'x' --": 1})
    assert cat.filter_options()["channels"] == ["Ministry TV"]


def test_media_files_and_fetches(cat):
    for vid in ("a", "b"):
        cat.upsert_video(video(vid), f"videos/{vid}")
    sha = "ab" * 32
    cat.add_media_file(media(sha, "a", http_status=200, http_headers={"etag": "1"}))
    cat.add_media_file(media(sha, "b", fetched_at="2024-02-01T00:00:00Z"))  # the same bytes on another page
    cat.add_media_file(media(sha, "b", fetched_at="2024-03-01T00:00:00Z"))  # a second fetch of it: kept once
    assert [r["sha256"] for r in cat.media_rows()] == [sha]
    assert cat.videos_holding(sha) == ["a", "b"] and cat.video_by_sha256(sha)["id"] == "a"
    assert cat.media_file(sha)["video_id"] == "a"
    own = cat.media_file(sha, "b")
    assert (own["video_id"], own["fetched_at"], own["path"]) == ("b", "2024-02-01T00:00:00Z", f"media/ab/{sha}.mp4")
    assert cat.video_media("b")["video_id"] == "b" and cat.get_video("b")["media_sha256"] == sha
    assert [r["video_id"] for r in cat.media_for_video("a")] == ["a"]
    assert [(r["video_id"], r["http_status"]) for r in cat.media_fetches()] == [("a", 200), ("b", None)]
    assert [r["sha256"] for r in cat.media_fetches("b")] == [sha]
    assert cat.video_media("nope") is None


def test_events_chain(cat):
    assert cat.chain_head() == (0, GENESIS, "")
    cat.upsert_video(video("v"), "videos/v")
    ids = [cat.add_event("fetched", video_id="v", media_sha256="cd" * 32, detail={"n": 1}),
           cat.add_event("verified", video_id="v"),
           cat.add_event("upgraded", detail={"from": 1})]
    assert ids == [1, 2, 3]
    rep = cat.chain_report()
    assert rep.ok and rep.events == 3 and rep.problem == "" and rep.missing_triggers == ()
    head = cat.chain_head()
    assert (rep.head_id, rep.head_hash, rep.head_at) == head and head[0] == 3
    events = cat.events()
    assert [e["prev_hash"] for e in events] == [GENESIS, events[0]["hash"], events[1]["hash"]]
    assert [e["kind"] for e in cat.events("v")] == ["fetched", "verified"]
    assert [e["id"] for e in cat.events_of_kind("upgraded")] == [3]
    assert cat.last_event("v", "verified")["id"] == 2 and cat.last_event("v", "removed") is None
    assert [e["id"] for e in cat.fetched_events("v", "cd" * 32)] == [1]
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)  # the log's clock never runs backwards


def test_segments_and_search_index(cat):
    cat.upsert_video(video("v", channel="Ministry TV", upload_date="2019-01-01"), "videos/v")
    words = [SimpleNamespace(word=" nuclear", start=0.2, end=0.6), SimpleNamespace(word=" deterrent", start=0.7, end=1.0)]
    lines = [("nuclear deterrent", [], words), ("the weather is fine", [], []), ("nuclear music", ["music"], [])]
    tid = cat.replace_transcript("v", "ef" * 32, "original", transcript(lines), "videos/v/t.json")
    assert tid > 0 and [r["kind"] for r in cat.transcript_rows("v")] == ["original"]
    assert cat.get_video("v")["language"] == "en"
    segs = cat.segments("v")
    assert [s["text"] for s in segs] == ["nuclear deterrent", "the weather is fine", "nuclear music"]
    assert [s["flags"] for s in segs] == ["", "", "music"] and segs[0]["end"] == 1.0
    assert unpack_words(cat.segment_words(segs[0]["id"])) == unpack_words(pack_words("nuclear deterrent", words))
    assert cat.segment_words(segs[1]["id"]) is None

    idx = cat.search_index
    p = plan("nuclear", "auto")
    match = idx.match_of(p)
    trusted = idx.match_ids(WORD, match, Filters(), "relevance", 0, 10)
    assert [i for i, _ in trusted] == [segs[0]["id"]]  # the flagged line is not among the trusted ones
    assert [i for i, _ in idx.match_ids(DOUBT, match, Filters(), "relevance", 0, 10)] == [segs[2]["id"]]
    assert idx.count_matches(WORD, match, Filters()) == 1
    assert idx.count_matches(WORD, match, Filters(channel="ministry tv")) == 1
    assert idx.count_matches(WORD, match, Filters(channel="other")) == 0
    assert idx.filter_ids(Filters(language="en"), [s["id"] for s in segs]) == {s["id"] for s in segs}
    assert idx.segment_ids() == [s["id"] for s in segs]
    assert idx.segment_texts([segs[1]["id"]]) == {segs[1]["id"]: "the weather is fine"}
    rows = idx.segment_rows([segs[0]["id"]])
    assert rows[segs[0]["id"]]["kind"] == "original" and rows[segs[0]["id"]]["words"]
    assert list(idx.video_rows(["v"])) == ["v"] and idx.tag_rows(["v"]) == {"v": []}
    counts = idx.mention_counts([(WORD, match)], "year", Filters())
    assert [(r["period"], r["channel"], r["hits"], r["videos"]) for r in counts] == [("2019", "Ministry TV", 1, 1)]
    assert [r["channel"] for r in idx.channels()] == ["Ministry TV"]
    assert [r["id"] for r in idx.recent_videos()] == ["v"] and idx.removed_videos() == []

    # a new transcript of the same kind replaces the old one, in the index too
    cat.replace_transcript("v", "ef" * 32, "original", transcript([("weather only", [], [])]), None)
    assert [s["text"] for s in cat.segments("v")] == ["weather only"]
    assert cat.search_index.match_ids(WORD, cat.search_index.match_of(plan("nuclear", "auto")), Filters(),
                                      "relevance", 0, 10) == []


def test_tags_human_corrections_win(cat):
    cat.upsert_video(video("v"), "videos/v")
    cat.replace_tags("v", [tag("news", 0.9, True), tag("music", 0.2, False)], "m1")
    cat.set_human_tag("v", "music", True, ["I listened"])
    cat.set_human_tag("v", "music", True, ["I listened twice"])  # replaces the person's earlier decision
    effective = {t["category"]: (t["origin"], bool(t["decision"])) for t in cat.tags("v")}
    assert effective == {"news": ("model", True), "music": ("human", True)}
    assert [(t["category"], t["origin"]) for t in cat.all_tags("v")] == [("music", "human"), ("music", "model"),
                                                                          ("news", "model")]
    cat.replace_tags("v", [tag("news", 0.5, False), tag("music", 0.1, False)], "m2")  # the model runs again
    assert {t["category"]: t["origin"] for t in cat.tags("v")} == {"news": "model", "music": "human"}
    assert cat.clear_human_tag("v", "music") is True and cat.clear_human_tag("v", "music") is False
    assert {t["category"]: t["model_version"] for t in cat.tags("v")} == {"news": "m2", "music": "m2"}
    assert cat.filter_options()["categories"] == ["music", "news"]


def test_stage_runs_metadata_manifests_profiles_keyframes(cat):
    cat.upsert_video(video("v"), "videos/v")
    assert cat.stage_done("v", "transcribe", "k1") is False
    cat.mark_stage("v", "transcribe", "k1", {"model": "tiny"})
    cat.mark_stage("v", "shots", "s1")
    assert cat.stage_done("v", "transcribe", "k1") and not cat.stage_done("v", "transcribe", "k2")
    cat.mark_stage("v", "transcribe", "k2")
    assert [(r["stage"], r["key"]) for r in cat.stage_runs("v")] == [("shots", "s1"), ("transcribe", "k2")]

    cat.add_metadata_version("v", "T1", "d", ["a"], "videos/v/info.json", seen_at="2024-01-01T00:00:00Z")
    cat.add_metadata_version("v", "T2", "d", ["a", "b"], None)
    assert [m["title"] for m in cat.metadata_versions("v")] == ["T1", "T2"]

    assert cat.manifest_record("v") is None
    cat.set_manifest_record("v", "videos/v/manifest.json", "aa" * 32, 3)
    cat.set_manifest_record("v", "videos/v/manifest.json", "bb" * 32, 4)
    assert (cat.manifest_record("v")["sha256"], cat.manifest_record("v")["files"]) == ("bb" * 32, 4)

    cat.replace_audio_profile("v", "cd" * 32, SimpleNamespace(version="p1", duration=3.0, speech=0.5, music=0.25,
                                                              silence=0.25), None)
    assert cat.audio_profile_row("v")["model_version"] == "p1"

    kf = [SimpleNamespace(shot_index=i, shot_start=float(i), shot_end=i + 1.0, time=i + 0.5, path=f"k{i}.jpg",
                          phash=(1 << 63) + i) for i in range(2)]  # the top bit set: stored signed, read back unsigned
    cat.replace_keyframes("v", "cd" * 32, kf, "adaptive", "0.6")
    assert [k["path"] for k in cat.keyframes("v")] == ["k0.jpg", "k1.jpg"] and len(cat.keyframe_hashes()) == 2
    assert [r[2] for r in cat.keyframe_rows()] == [(1 << 63), (1 << 63) + 1]
    assert cat.keyframe_rows(exclude="v") == []


def test_copies_and_network(cat):
    cat.upsert_video(video("orig", upload_date="20200101", channel="A"), "videos/orig")
    cat.upsert_video(video("copy", upload_date="20200202", channel="B"), "videos/copy")
    cat.add_metadata_version("copy", "c", None, [], "videos/copy/info.json")
    cat.save_fingerprint("orig", "a" * 64, b"\x01\x00", 1.0, "fpcalc", "1.5")
    cat.save_fingerprint("orig", "a" * 64, b"\x02\x00", 2.0, "fpcalc", "1.5")  # replaces
    assert dict(cat.fingerprints()) == {"orig": b"\x02\x00"} and dict(cat.fingerprints(exclude="orig")) == {}
    assert {r["id"] for r in cat.video_facts()} == {"orig", "copy"}
    link = SimpleNamespace(original="orig", copy="copy", offset=1.5, speed=1.0, coverage=0.8, confidence=0.9,
                           method="audio", matched_seconds=30.0, detail={"why": "fingerprint"})
    assert cat.save_links([link], "v1") == 1
    turned = SimpleNamespace(**{**vars(link), "original": "copy", "copy": "orig"})
    cat.save_links([turned, turned], "v1")  # found the other way round: replaces the pair, once
    assert [(r["original_id"], r["copy_id"]) for r in cat.all_links()] == [("copy", "orig")]
    copied_from, copies = cat.links_of("orig")
    assert [r["original_id"] for r in copied_from] == ["copy"] and copies == []
    got = cat.video_copies("copy")
    assert got["copied_from"] == [] and [c["video_id"] for c in got["copies_elsewhere"]] == ["orig"]
    assert got["copies_elsewhere"][0]["evidence"] == {"why": "fingerprint"} and got["copies_elsewhere"][0]["offset"] == 1.5
    net = {r["id"]: r["info_json_path"] for r in cat.network_videos()}
    assert net == {"copy": "videos/copy/info.json", "orig": None}


def test_sources_and_their_checks(cat):
    sid = cat.upsert_source("https://e.org/feed", kind="unknown")
    assert cat.upsert_source("https://e.org/feed", kind="channel", title="Feed", watched=True) == sid
    assert cat.upsert_source("https://e.org/feed") == sid  # "unknown" never overwrites a known kind
    s = cat.source(sid)
    assert (s["kind"], s["title"], s["watched"]) == ("channel", "Feed", 1)
    other = cat.upsert_source("https://e.org/other")
    assert [r["id"] for r in cat.watched_source_rows()] == [sid] and other != sid
    cat.upsert_video(video("v", source_id=sid), "videos/v")
    cat.set_source_list_error(sid, "HTTP 500")
    assert cat.source(sid)["last_list_error"] == "HTTP 500"
    cat.source_failed(sid, 1, "2030-01-01T00:00:00Z", "2030-01-01T00:00:00Z")
    cat.source_failed(sid, 3, "2030-01-01T00:00:00Z", "2030-01-03T00:00:00Z", removed=("gone", "account terminated"))
    check = cat.source_check(sid)
    assert (check["status"], check["failed_checks"], check["status_reason"]) == ("removed", 3, "account terminated")
    state = cat.watched_sources_with_state()
    assert [(r["id"], r["status"], r["videos"]) for r in state] == [(sid, "removed", 1)]
    cat.source_checked(sid, "2030-01-04T00:00:00Z")
    assert cat.source_check(sid)["last_checked_at"] == "2030-01-04T00:00:00Z"
    cat.source_listed(sid, "2030-01-05T00:00:00Z", None)  # listed again: the removal is cleared
    check = cat.source_check(sid)
    assert (check["status"], check["failed_checks"], check["status_changed_at"]) == ("available", 0, "2030-01-05T00:00:00Z")
    assert (cat.source(sid)["last_listed_at"], cat.source(sid)["last_list_error"]) == ("2030-01-05T00:00:00Z", None)


def test_transactions_roll_back_together(cat):
    with pytest.raises(RuntimeError):
        with cat.transaction():
            cat.upsert_video(video("v"), "videos/v")
            cat.add_event("archived", video_id="v")
            raise RuntimeError("crash half way")
    assert cat.find_video("v") is None and cat.events() == [] and cat.chain_report().ok


def test_speakers_voices_and_names(cat):
    """Issue 24's tables through the contract: turns in time order, voices S1 first (S2 before S10), names that follow
    their voice when the speakers are found again, lookups by name in any case, the voice index's inputs."""
    import numpy as np

    turn = lambda a, b, s: SimpleNamespace(start=a, end=b, speaker=s)
    voice = lambda s, sec, e: SimpleNamespace(speaker=s, seconds=sec, embedding=np.asarray(e, np.float32))
    e1, e2, e3 = np.eye(4, dtype=np.float32)[:3]
    for vid in ("a", "b"):
        cat.upsert_video(video(vid), f"videos/{vid}")
    cat.replace_speakers("a", "sha-a", "enc1", [turn(5, 9, "S2"), turn(0, 4.5, "S1"), turn(10, 12, "S10")],
                         [voice("S10", 2, e3), voice("S2", 4, e2), voice("S1", 4.5, e1)])
    assert cat.speaker_turns("a") == [{"start": 0.0, "end": 4.5, "speaker": "S1"},
                                      {"start": 5.0, "end": 9.0, "speaker": "S2"},
                                      {"start": 10.0, "end": 12.0, "speaker": "S10"}]
    vs = cat.voices("a")
    assert [(v["speaker"], v["seconds"], v["name"], v["encoder"]) for v in vs] == [
        ("S1", 4.5, None, "enc1"), ("S2", 4.0, None, "enc1"), ("S10", 2.0, None, "enc1")]
    assert all(v["embedding"].dtype == np.float32 for v in vs)
    assert np.array_equal(vs[1]["embedding"], e2)
    n, fingerprint = cat.voice_count()
    assert n == 3

    assert cat.set_voice_name("a", "S2", "Ri Chun Hi", e2) is None
    assert cat.set_voice_name("a", "S2", "Ri Chun-hi", e2) == "Ri Chun Hi"  # a new name replaces the old one
    assert cat.set_voice_name("a", "S10", "Nobody", None) is None
    assert cat.voices_named("RI CHUN-HI") == [("a", "S2")] and cat.voices_named("Ri Chun Hi") == []
    assert [v["name"] for v in cat.voices("a")] == [None, "Ri Chun-hi", "Nobody"]

    # Found again, labels swapped and S10 gone: the name follows its voice to S1; the name kept without a voice
    # stays on its label (naming no one until that voice is back).
    cat.replace_speakers("a", "sha-a", "enc1", [turn(0, 4, "S2"), turn(5, 9, "S1")],
                         [voice("S1", 4, e2), voice("S2", 4, e1)])
    assert [(v["speaker"], v["name"]) for v in cat.voices("a")] == [("S1", "Ri Chun-hi"), ("S2", None)]
    assert cat.voices_named("ri chun-hi") == [("a", "S1")] and cat.voices_named("nobody") == [("a", "S10")]
    assert cat.speaker_turns("a")[0] == {"start": 0.0, "end": 4.0, "speaker": "S2"}
    assert cat.voice_count()[1] != fingerprint

    cat.replace_speakers("b", "sha-b", "enc2", [turn(0, 3, "S1")], [voice("S1", 3, e3)])
    assert [(v, s) for v, s, _, _ in cat.all_voices("enc1")] == [("a", "S1"), ("a", "S2")]
    everyone = list(cat.all_voices())
    assert [(v, s, sec) for v, s, sec, _ in everyone] == [("a", "S1", 4.0), ("a", "S2", 4.0), ("b", "S1", 3.0)]
    assert np.array_equal(everyone[2][3], e3)
    many = cat.speaker_turns_of(["b", "a", "zzz"] + [f"x{i}" for i in range(600)])  # more ids than one statement takes
    assert len(many) == 603 and many["zzz"] == [] and many["a"] == cat.speaker_turns("a")
    assert many["b"] == [{"start": 0.0, "end": 3.0, "speaker": "S1"}]
    assert cat.speaker_turns("nope") == [] and cat.voices("nope") == []
