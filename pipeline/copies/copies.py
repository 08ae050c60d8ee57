"""Copy links: which archived videos a new video copies (or is copied by), and which one is the original.

Two kinds of evidence, each from its own index:

- keyframes (``matching.match_keyframes``): the same pictures in the same
  order, through re-encodes, crops, borders, logos and mirroring;
- audio (``fingerprint.AudioIndex``): the same sound, through re-encodes,
  excerpts, speed changes, and a music video re-uploaded over a still image.

A pair becomes a link only when the evidence is more than a coincidence: at
least ``MIN_KEYFRAMES`` keyframes aligned on one time offset (all but one
when the shorter video has fewer keyframes: ``keyframes_needed``), or
``fingerprint.MIN_MATCH_SECONDS`` of agreeing audio, *and* the shared part
is at least ``MIN_SHARE`` of the shorter video (so a shared channel intro or
a jingle does not link two different bulletins). When both kinds agree on
the offset the link's method is ``both``.

The direction comes from what the archive observed, not from what uploaders
claim: the original is the video archived first (first seen). The platforms'
upload dates are claims (an uploader writes them: a re-upload can say 1999);
they are kept beside the link, decide only when the archive observed nothing
(equal or missing archive times), and when they contradict the observation the
link's ``direction`` is ``uncertain`` — the network then draws no arrow.
Offsets map the copy onto the original: ``original time = copy time * speed + offset``.

Plain values in, ``CopyLink`` dataclasses out; storage is the caller's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from pipeline.copies import fingerprint
from pipeline.copies.fingerprint import AudioFingerprint, AudioIndex, AudioMatch
from pipeline.copies.matching import HashIndex, QueryFrame, match_keyframes
from pipeline.shots.phash import phash_pair, query_variants

#: keyframes aligned on one offset for a keyframe-only link
MIN_KEYFRAMES = 3
#: but never fewer than this, however few keyframes the shorter video has
MIN_KEYFRAMES_SHORT = 2
#: and this many *different* pictures on each side: a still image (or a
#: slideshow of one card) repeats one hash, and two stills with the same
#: picture prove nothing about the sound under them
MIN_DISTINCT_PICTURES = 3
#: hashes closer than this are the same picture
SAME_PICTURE_BITS = 6
#: shared part / shorter video's duration
MIN_SHARE = 0.4
#: a match covering this share of the shorter video is a copy of the whole, recurring material or not (a song
#: re-posted by many channels recurs everywhere, and is still copied)
WHOLE_SHARE = 0.9
#: keyframe and audio offsets closer than this (seconds) are the same alignment
AGREE_SECONDS = 2.0
METHOD_VERSION = "1"


@dataclass(frozen=True)
class VideoFacts:
    """What deciding the original needs to know of a video."""

    video_id: Any
    upload_date: str | None = None  # YYYY-MM-DD (platform)
    archived_at: str | None = None  # ISO time (ours)
    duration: float | None = None  # seconds
    channel: str | None = None
    pictures: int | None = None  # distinct keyframe pictures (``distinct_pictures``); None: not known


@dataclass
class CopyLink:
    original: Any
    copy: Any
    offset: float  # original time = copy time * speed + offset
    coverage: float  # share of the original's duration found in the copy (0..1)
    confidence: float  # 0..1
    method: str  # keyframes | audio | both
    speed: float = 1.0
    matched_seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)
    direction: str = "observed"  # observed | claimed | uncertain (see ``direction_of``)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Evidence:
    """One kind of evidence, oriented as (archived = a, new = q): a_time = q_time * speed + offset."""

    method: str
    offset: float
    speed: float
    matched_seconds: float  # in the archived video's time
    confidence: float
    detail: dict[str, Any]


def distinct_pictures(hashes: Iterable[int], bits: int = SAME_PICTURE_BITS) -> int:
    """How many different pictures a video's keyframe hashes show (greedy grouping by Hamming distance)."""
    reps: list[int] = []
    for h in hashes:
        h = int(h) & 0xFFFFFFFFFFFFFFFF
        if h == 0:
            continue
        if all(bin(h ^ r).count("1") > bits for r in reps):
            reps.append(h)
    return len(reps)


def _order_key(f: VideoFacts, already_archived: bool) -> tuple:
    # missing dates sort last; among equals the archived video (False < True) wins
    return (f.upload_date or "9999-99-99", f.archived_at or "9999", not already_archived)


def direction_of(a: VideoFacts, b: VideoFacts) -> tuple[VideoFacts, str]:
    """Which of two linked videos is the original, and on what evidence.

    Arguments: a — the video already in the archive; b — the new one.
    Returns: (original, direction): ``observed`` (archived first, the platforms' dates agree or are missing),
        ``claimed`` (the archive observed no order: the earlier platform upload date), ``uncertain`` (the claimed
        dates contradict the observed order; the claimed original is returned, and no arrow is drawn).

    Archive times are kept to the second; two videos archived within the same second were still seen in an order:
    ``a`` was in the archive when ``b`` was matched against it, so a tie goes to ``a``."""
    observed = None
    if a.archived_at and b.archived_at:
        observed = a if a.archived_at <= b.archived_at else b
    claimed = None
    if a.upload_date and b.upload_date and a.upload_date != b.upload_date:
        claimed = a if a.upload_date < b.upload_date else b
    if observed is not None and claimed is not None and observed is not claimed:
        return claimed, "uncertain"
    if observed is not None:
        return observed, "observed"
    if claimed is not None:
        return claimed, "claimed"
    return (a if _order_key(a, True) <= _order_key(b, False) else b), "observed"


def original_of(a: VideoFacts, b: VideoFacts) -> VideoFacts:
    """The original of two linked videos (``direction_of``'s first half)."""
    return direction_of(a, b)[0]


def keyframes_needed(query_keyframes: int, archived_keyframes: int | None = None) -> int:
    """How many keyframes must align on one offset for a keyframe link between two videos.

    Arguments:
        query_keyframes: the new video's (non-flat) keyframes.
        archived_keyframes: the archived video's, when known (None or 0: unknown).

    Returns:
        ``MIN_KEYFRAMES``, or all but one of the shorter video's keyframes when it has ``MIN_KEYFRAMES`` or fewer,
        never under ``MIN_KEYFRAMES_SHORT``.
    """
    # A keyframe is the sharpest frame near the middle of its shot, and a re-encode at another size changes which
    # frame is sharpest: in a moving shot the copy's keyframe is then 0.2-0.6 s away from the original's and 10-16
    # bits off, so about one keyframe in seven finds no partner (real footage, /work/media video, 640x360 CRF 30).
    # A 3-shot video can lose one of its three and a fixed minimum of 3 then never fires: it is allowed one miss.
    n = min(k for k in (query_keyframes, archived_keyframes) if k) if (query_keyframes or archived_keyframes) else 0
    return max(MIN_KEYFRAMES_SHORT, min(MIN_KEYFRAMES, n - 1))


def _keyframe_evidence(m: Any, q: VideoFacts, a: VideoFacts) -> _Evidence | None:
    """From a ``matching.Match`` (query = new video): None unless it is more than chance."""
    if m.aligned < keyframes_needed(m.total, getattr(m, "stored", 0)):
        return None
    if any(f.pictures is not None and f.pictures < MIN_DISTINCT_PICTURES for f in (q, a)):
        return None
    q_dur, a_dur = q.duration, a.duration
    seconds_q = sum(max(0.0, r[1] - r[0]) for r in m.ranges)
    seconds_a = sum(max(0.0, r[3] - r[2]) for r in m.ranges)
    seconds = max(seconds_q, seconds_a)
    shorter = min(d for d in (q_dur, a_dur) if d) if (q_dur or a_dur) else None
    share = seconds / shorter if shorter else max(m.score, m.coverage)
    # the keyframe shares also bound it: either side's keyframes must be mostly found
    if max(m.score, m.coverage) < MIN_SHARE or share < MIN_SHARE:
        return None
    closeness = max(0.0, 1.0 - m.mean_distance / 9.0)
    conf = round(min(1.0, m.aligned / 8.0) * 0.5 + 0.5 * max(m.score, m.coverage) * closeness, 4)
    return _Evidence("keyframes", float(m.offset), 1.0, round(seconds_a, 2), conf,
                     {"aligned": m.aligned, "query_keyframes": m.total, "score": m.score, "coverage": m.coverage,
                      "mirrored": m.mirrored, "mean_distance": m.mean_distance})


def _audio_evidence(m: AudioMatch, q_dur: float | None, a_dur: float | None) -> _Evidence | None:
    shorter_candidates = [d for d in (q_dur, a_dur, m.query_seconds / max(m.speed, 1e-6), m.archived_seconds) if d]
    q_len = m.query_seconds or q_dur or 0.0
    a_len = m.archived_seconds or a_dur or 0.0
    shorter = min(x for x in (q_len, a_len) if x) if (q_len or a_len) else min(shorter_candidates or [0.0])
    if not shorter or m.matched_seconds / shorter < MIN_SHARE:
        return None
    # Down-weight recurring material (jingles, idents: in many videos of several channels) as document frequency
    # is in text search: unless the match is the whole shorter video, what is beyond it must make the link.
    recurring = getattr(m, "recurring_seconds", 0.0) or 0.0
    beyond = m.matched_seconds - recurring
    if recurring and m.matched_seconds / shorter < WHOLE_SHARE and (beyond / shorter < MIN_SHARE
                                                                    or beyond < fingerprint.MIN_MATCH_SECONDS):
        return None
    return _Evidence("audio", m.offset, m.speed, m.matched_seconds, m.confidence,
                     {"ber": m.ber, "votes": m.votes, "distinct_items": m.distinct, "speed_correction": m.how,
                      **({"recurring_seconds": recurring} if recurring else {})})


def _combine(k: _Evidence | None, a: _Evidence | None) -> _Evidence | None:
    if k and a:
        if abs(k.offset - a.offset) <= AGREE_SECONDS or (a.speed != 1.0 and k.confidence < a.confidence):
            conf = round(1 - (1 - k.confidence) * (1 - a.confidence), 4)
            base = a if a.speed != 1.0 else k  # audio knows the speed; keyframes are the finer offset otherwise
            return _Evidence("both", base.offset, base.speed, max(k.matched_seconds, a.matched_seconds), conf,
                             {"keyframes": k.detail, "audio": a.detail})
        return k if k.confidence >= a.confidence else a
    return k or a


def decide_links(new: VideoFacts, keyframe_matches: Iterable[Any], audio_matches: Iterable[AudioMatch],
                 facts: Mapping[Any, VideoFacts]) -> list[CopyLink]:
    """Copy links between ``new`` and archived videos from both kinds of matches (query = ``new``)."""
    kev: dict[Any, _Evidence] = {}
    for m in keyframe_matches:
        if m.video_id == new.video_id:
            continue
        a = facts.get(m.video_id, VideoFacts(m.video_id))
        e = _keyframe_evidence(m, new, a)
        if e and (m.video_id not in kev or e.confidence > kev[m.video_id].confidence):
            kev[m.video_id] = e
    aev: dict[Any, _Evidence] = {}
    for m in audio_matches:
        if m.video_id == new.video_id:
            continue
        a = facts.get(m.video_id, VideoFacts(m.video_id))
        e = _audio_evidence(m, new.duration, a.duration)
        if e and (m.video_id not in aev or e.confidence > aev[m.video_id].confidence):
            aev[m.video_id] = e
    links = []
    for vid in sorted(set(kev) | set(aev), key=str):
        e = _combine(kev.get(vid), aev.get(vid))
        if e is None:
            continue
        archived = facts.get(vid, VideoFacts(vid))
        orig, direction = direction_of(archived, new)
        if orig is archived:  # new copies archived: a = q * s + o already maps copy -> original
            original, copy, speed, offset = vid, new.video_id, e.speed, e.offset
            orig_dur = archived.duration
        else:  # archived copies new: invert the map
            original, copy = new.video_id, vid
            speed, offset = 1.0 / e.speed, -e.offset / e.speed
            orig_dur = new.duration
        matched_in_original = e.matched_seconds if orig is archived else e.matched_seconds / e.speed
        coverage = round(min(1.0, matched_in_original / orig_dur), 4) if orig_dur else 0.0
        other = new if orig is archived else archived
        detail = {**e.detail, "direction": direction,
                  "first_archived": {"original": orig.archived_at, "copy": other.archived_at},
                  "claimed_upload_dates": {"original": orig.upload_date, "copy": other.upload_date}}
        links.append(CopyLink(original=original, copy=copy, offset=round(offset, 3), coverage=coverage,
                              confidence=e.confidence, method=e.method, speed=round(speed, 4),
                              matched_seconds=round(matched_in_original, 2), detail=detail, direction=direction))
    return links


class CopyFinder:
    """Both indexes over the archive, and the facts needed to orient links.

    ``add`` puts an archived video in; ``find`` matches a new video's
    fingerprints against everything added so far (then the caller ``add``s it).
    """

    def __init__(self, audio_sample: int = 1):
        self.keyframes = HashIndex()
        self.audio = AudioIndex(sample=audio_sample)
        self.facts: dict[Any, VideoFacts] = {}

    def add(self, facts: VideoFacts, keyframe_rows: Sequence[Any] = (),
            audio: AudioFingerprint | bytes | np.ndarray | None = None) -> None:
        """``keyframe_rows``: (video_id, time, phash, shot_start, shot_end) as ``matching.index_rows`` gives."""
        if facts.pictures is None and keyframe_rows:
            facts = replace(facts, pictures=distinct_pictures(r[2] for r in keyframe_rows))
        self.facts[facts.video_id] = facts
        if keyframe_rows:
            self.keyframes.add(keyframe_rows)
        if audio is not None and len(audio):
            self.audio.add(facts.video_id, audio, channel=facts.channel)

    def find(self, new: VideoFacts, keyframes: Sequence[Any] = (),
             audio: Sequence[AudioFingerprint] = ()) -> list[CopyLink]:
        """Links between ``new`` and the archive. ``keyframes``: the new video's QueryFrames (or Keyframes);
        ``audio``: its fingerprints with speed corrections (``fingerprint.query_fingerprints``)."""
        if new.pictures is None and keyframes:
            new = replace(new, pictures=distinct_pictures(k.phash if hasattr(k, "phash") else k[1] for k in keyframes))
        kms = match_keyframes(keyframes, self.keyframes, exclude=[new.video_id], limit=50) if keyframes and len(self.keyframes) else []
        ams = self.audio.match(list(audio), exclude=[new.video_id], limit=50) if audio and len(self.audio) else []
        return decide_links(new, kms, ams, self.facts)


def query_frames(keyframes: Sequence[Any], load_image: Any = None) -> list[Any]:
    """A new video's ``QueryFrame``s from its stored keyframes (time, phash, shot_start, shot_end, path).

    The database keeps one hash per keyframe; the mirror and crop variants a
    query needs are hashed again from the keyframe's JPEG when ``load_image``
    (path -> BGR array or None) can read it.
    """

    out = []
    for k in keyframes:
        h = int(k["phash"]) & 0xFFFFFFFFFFFFFFFF
        mirror = 0
        alt: tuple[int, ...] = ()
        alt_m: tuple[int, ...] = ()
        img = load_image(k["path"]) if load_image is not None and k["path"] else None
        if img is not None:
            _, mirror = phash_pair(img)
            alt, alt_m = query_variants(img)
        out.append(QueryFrame(float(k["time"]), h, mirror, float(k["shot_start"]), float(k["shot_end"]), alt, alt_m))
    return out
