"""Tagging benchmark: build a labelled clip set offline, train, and print P/R/F1.

    python bench/tagging.py            # evaluate the shipped weights on the held-out set
    python bench/tagging.py --train    # retrain the combiner (pipeline/data/tagging_model.json) on these synthetic
                                       # clips + the real recordings of bench/audio_profile.py, then evaluate
    python bench/tagging.py --whisper 12   # also re-run the combination on 12 English held-out
                                       # clips transcribed for real with tiny.en

Set-up (into bench/.cache, never into git): real music recordings from two Debian
packages — ``asterisk-moh-opsound-wav`` (music-on-hold tracks from opsound.org,
CC-BY-SA) and ``pingus-data`` (the Pingus game soundtrack, tracker modules that
ffmpeg decodes through libopenmpt) — fetched with ``apt-get download`` and
unpacked with ``dpkg -x``. Without apt the set uses synthesized music only.

Clips: speech voiced by espeak-ng (``en-us``/``en-gb``/``ko`` at varied speed
and pitch) from the texts in ``bench/tagging_corpus.py`` (sources noted there),
over a quiet music bed or after a jingle or bare; songs (lyrics over a full
music track); instrumentals (real recordings, numpy-synthesized chords and
melodies with drums, sox ``pluck`` marches like the bundled demo clip).
Metadata varies: registry channel or not, platform category or not, titles and
descriptions or generic names, Korean with or without an English translation,
some clips without transcript, some with metadata only.

Transcripts are built from the known script text (timed by sentence), not by
Whisper, for speed; instrumentals get an empty transcript or a typical Whisper
hallucination. ``--whisper N`` measures the difference on real tiny.en output.

The training and evaluation sets are disjoint: different sentence halves
(even/odd positions in each pool), different real recordings (alternate
tracks), different random seeds.

EVERY FIGURE THIS SCRIPT PRINTS IS SYNTHETIC (espeak-ng voices, written
sentences, made-up metadata): it measures the combiner's logic, not accuracy on
real media. The audio profile is trained and judged on real recordings by
bench/audio_profile.py (which also prints the video-level table on real media);
the shipped audio weights are read here, never retrained.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tagging_corpus import HALLUCINATIONS, NEUTRAL_CHANNELS, PLATFORM_CATEGORY, POOLS, REGISTRY_CHANNELS, TITLES  # noqa: E402

from pipeline.asr import Segment, Transcript  # noqa: E402
from pipeline.media import profile as audiosig  # noqa: E402
from pipeline.media.probe import run_ffmpeg  # noqa: E402
from pipeline.tagging import model as tagging  # noqa: E402
from pipeline.testing.media import write_wav  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "tagging"
REAL_ROWS = ROOT / "bench" / ".cache" / "audio_profile" / "real_rows.json"
SR = 16_000
DEBS = ("asterisk-moh-opsound-wav", "pingus-data")

# kind -> (news, music, propaganda), and how many clips of it per split
KINDS = {
    "neutral_news": ((1, 0, 0), 12),
    "state_news": ((1, 0, 1), 12),
    "state_editorial": ((0, 0, 1), 8),
    "neutral_talk": ((0, 0, 0), 8),
    "revolutionary_lyrics": ((0, 1, 1), 8),
    "pop_lyrics": ((0, 1, 0), 8),
    "instrumental": ((0, 1, 0), 8),
    "state_instrumental": ((0, 1, 1), 8),
}
STATE_KINDS = {"state_news", "state_editorial", "revolutionary_lyrics", "state_instrumental"}
SPEECH_KINDS = {"neutral_news", "state_news", "state_editorial", "neutral_talk"}
SONG_KINDS = {"revolutionary_lyrics", "pop_lyrics"}


# -- set-up: real recordings --------------------------------------------------------

def fetch_music() -> list[Path]:
    """Decode the Debian packages' music to 16 kHz mono .f32 (first 60 s of each track); cached."""
    out = CACHE / "music"
    done = sorted(out.glob("*.f32"))
    if done:
        return done
    out.mkdir(parents=True, exist_ok=True)
    debdir = CACHE / "debs"
    debdir.mkdir(parents=True, exist_ok=True)
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        print("apt-get/dpkg not found: using synthesized music only", file=sys.stderr)
        return []
    for pkg in DEBS:
        if not list(debdir.glob(f"{pkg}_*.deb")):
            r = subprocess.run(["apt-get", "download", pkg], cwd=debdir, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"apt-get download {pkg} failed ({r.stderr.strip()[:200]}); continuing without it", file=sys.stderr)
                continue
        deb = next(debdir.glob(f"{pkg}_*.deb"))
        subprocess.run(["dpkg", "-x", str(deb), str(debdir / pkg)], check=True)
    tracks = sorted((debdir / "asterisk-moh-opsound-wav").rglob("*.wav")) + sorted(
        p for p in (debdir / "pingus-data").rglob("music/*") if p.suffix in (".it", ".s3m", ".xm", ".mod", ".ogg"))
    for t in tracks:
        dst = out / f"{t.parent.parent.name}-{t.stem}.f32"
        try:
            run_ffmpeg(["-i", str(t), "-t", "60", "-ac", "1", "-ar", str(SR), "-f", "f32le", str(dst)])
        except Exception as exc:  # a module ffmpeg cannot play: skip it
            print(f"skip {t.name}: {exc}", file=sys.stderr)
    return sorted(out.glob("*.f32"))


def load_f32(p: Path) -> np.ndarray:
    return np.fromfile(p, np.float32)


# -- synthesis ------------------------------------------------------------------------

def _norm(y: np.ndarray, rms: float) -> np.ndarray:
    cur = float(np.sqrt(np.mean(y ** 2)) + 1e-9)
    return (y * (rms / cur)).astype(np.float32)


def synth_music(rng: random.Random, seconds: float) -> np.ndarray:
    """Chord bed, melody and/or drums with random timbre, key and tempo."""
    n = int(seconds * SR)
    y = np.zeros(n, np.float32)
    root = 110 * 2 ** (rng.randint(0, 11) / 12)
    scale = [0, 2, 4, 5, 7, 9, 11, 12] if rng.random() < 0.6 else [0, 2, 3, 5, 7, 8, 10, 12]
    beat = 60 / rng.uniform(70, 160)
    nh = rng.randint(1, 6)
    decay = rng.uniform(0.5, 3.0)

    def tone(f, dur, amp, sustained=False):
        m = int(dur * SR)
        tt = np.arange(m) / SR
        env = np.minimum(1, tt / 0.01) * (np.exp(-tt * decay) if not sustained else np.minimum(1, (dur - tt) / 0.05))
        wave_ = sum(np.sin(2 * np.pi * f * k * tt + rng.random()) / k ** rng.uniform(0.8, 2) for k in range(1, nh + 1))
        if rng.random() < 0.3:
            wave_ = wave_ * (1 + 0.3 * np.sin(2 * np.pi * 5.5 * tt))  # vibrato-ish tremolo
        return (amp * env * wave_).astype(np.float32)

    layers = rng.choice([("chords",), ("melody",), ("chords", "melody"), ("chords", "melody", "drums"), ("melody", "drums"), ("chords", "drums")])
    if "chords" in layers:
        bar = beat * 4
        pos = 0.0
        while pos < seconds:
            deg = rng.choice([0, 3, 4, 5])
            for iv in (0, 4 if scale[2] == 4 else 3, 7):
                f = root * 2 ** ((scale[deg % 7] + iv) / 12)
                seg = tone(f, min(bar, seconds - pos), 0.25, sustained=rng.random() < 0.7)
                a = int(pos * SR)
                y[a : a + len(seg)] += seg[: n - a]
            pos += bar
    if "melody" in layers:
        pos = 0.0
        while pos < seconds:
            d = beat * rng.choice([0.5, 1, 1, 2])
            f = 2 * root * 2 ** (rng.choice(scale) / 12)
            seg = tone(f, min(d, seconds - pos), 0.4)
            a = int(pos * SR)
            y[a : a + len(seg)] += seg[: n - a]
            pos += d
    if "drums" in layers:
        nrng = np.random.default_rng(rng.randint(0, 1 << 30))
        pos, i = 0.0, 0
        while pos < seconds:
            a = int(pos * SR)
            m = min(int(0.15 * SR), n - a)
            tt = np.arange(m) / SR
            if i % 2 == 0:
                hit = np.sin(2 * np.pi * 60 * tt) * np.exp(-tt * 25)
            else:
                hit = nrng.standard_normal(m) * np.exp(-tt * 30) * 0.5
            y[a : a + m] += hit.astype(np.float32)
            pos += beat / 2 if rng.random() < 0.5 else beat
            i += 1
    return _norm(y, 0.1)


def sox_march(rng: random.Random, seconds: float, tmp: Path) -> np.ndarray:
    """Plucked notes over a bass note, as the bundled demo clip's instrumental."""
    names = ["C", "D", "E", "F", "G", "A", "B"]
    notes = [f"{rng.choice(names)}{rng.choice([4, 4, 5])}" for _ in range(16)]
    bass = f"{rng.choice(names)}3"
    d = rng.choice([0.25, 0.4, 0.5])
    kind = rng.choice(["pluck", "pluck", "sine", "triangle", "square"])
    parts = []
    for i, nm in enumerate(notes):
        p = tmp / f"n{i:02d}.wav"
        subprocess.run(["sox", "-n", "-r", str(SR), "-c", "1", str(p), "synth", str(d), kind, nm, "pluck", bass, "gain", "-6"], check=True)
        parts.append(str(p))
    line = tmp / "line.f32"
    subprocess.run(["sox", *parts, "-t", "raw", "-e", "floating-point", "-b", "32", str(line)], check=True)
    y = np.fromfile(line, np.float32)
    reps = int(seconds / (len(y) / SR)) + 1
    return _norm(np.tile(y, reps)[: int(seconds * SR)], 0.1)


def read_wav(p: Path) -> np.ndarray:
    with wave.open(str(p)) as w:
        assert w.getframerate() == SR and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768


def speak(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    es = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text], capture_output=True, check=True)
    sx = subprocess.run(["sox", "-t", "wav", "-", "-r", str(SR), "-c", "1", "-e", "floating-point", "-b", "32", "-t", "raw", "-"],
                        input=es.stdout, capture_output=True, check=True)
    y = np.frombuffer(sx.stdout, np.float32).copy()
    nz = np.flatnonzero(np.abs(y) > 1e-3)  # trim espeak's leading/trailing silence
    return _norm(y[nz[0] : nz[-1] + 1] if len(nz) else y, 0.08)


# -- clips ----------------------------------------------------------------------------

@dataclass
class Clip:
    id: str
    kind: str
    lang: str
    labels: dict[str, bool]
    inp: tagging.TaggingInput
    wav: Path | None = None
    window_labels: list[str] = field(default_factory=list)  # per 1 s window: speech | music | silence | mixed
    script: list[str] = field(default_factory=list)


class MusicSource:
    def __init__(self, tracks: list[Path], rng: random.Random, tmp: Path):
        self.tracks, self.rng, self.tmp = tracks, rng, tmp

    def get(self, seconds: float) -> np.ndarray:
        r = self.rng.random()
        if self.tracks and r < 0.5:
            y = load_f32(self.rng.choice(self.tracks))
            if len(y) > seconds * SR:
                a = self.rng.randint(0, len(y) - int(seconds * SR))
                y = y[a : a + int(seconds * SR)]
            if np.sqrt(np.mean(y ** 2)) < 1e-3:  # a quiet intro: synthesize instead
                return synth_music(self.rng, seconds)
            y = np.pad(y, (0, max(0, int(seconds * SR) - len(y))))
            return _norm(y, 0.1)
        if r < 0.75:
            return sox_march(self.rng, seconds, self.tmp)
        return synth_music(self.rng, seconds)


def _timeline(parts: list[tuple[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    y = np.concatenate([p for _, p in parts]) if parts else np.zeros(0, np.float32)
    lab = np.concatenate([np.full(len(p), {"speech": 0, "music": 1, "silence": 2}[k], np.int8) for k, p in parts]) if parts else np.zeros(0, np.int8)
    return y, lab


def _window_labels(lab: np.ndarray) -> list[str]:
    out = []
    for w in range(int(len(lab) // SR + (1 if len(lab) % SR >= SR / 2 else 0))):
        seg = lab[w * SR : (w + 1) * SR]
        counts = np.bincount(seg, minlength=3) / max(1, len(seg))
        k = int(counts.argmax())
        out.append(("speech", "music", "silence")[k] if counts[k] >= 0.8 else "mixed")
    return out


def make_clip(i: int, kind: str, split: str, rng: random.Random, music: MusicSource) -> Clip:
    labels = dict(zip(tagging.CATEGORIES, map(bool, KINDS[kind][0])))
    lang = "ko" if rng.random() < 0.5 else "en"
    li = 1 if lang == "ko" else 0
    half = 0 if split == "train" else 1
    date = f"20{rng.randint(15, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    cid = f"{split}-{i:03d}-{kind}"
    avail = rng.random()
    meta_only, no_transcript = avail < 0.12, 0.12 <= avail < 0.20

    # script
    lines: list[tuple[str, str]] = []
    if kind in POOLS:
        pool = [p for j, p in enumerate(POOLS[kind]) if j % 2 == half]
        lines = rng.sample(pool, k=min(len(pool), rng.randint(2, 4)))

    # audio
    parts: list[tuple[str, np.ndarray]] = []
    seg_text: list[tuple[float, float, str, str]] = []
    voice = "ko" if lang == "ko" else rng.choice(["en-us", "en-gb", "en-us+f3", "en-us+m3"])
    speed, pitch = rng.randint(125, 175), rng.randint(25, 75)
    if kind in SPEECH_KINDS:
        style = rng.random()
        if style < 0.25:
            parts.append(("music", music.get(rng.uniform(2, 4))))  # jingle
        if rng.random() < 0.15:
            parts.append(("silence", np.zeros(int(rng.uniform(1, 2) * SR), np.float32)))
        speech_parts = []
        for en, ko in lines:
            s = speak(ko if lang == "ko" else en, voice, speed, pitch)
            start = sum(len(p) for _, p in parts) / SR
            parts.append(("speech", s))
            speech_parts.append((start, start + len(s) / SR, en, ko))
            parts.append(("silence", np.zeros(int(rng.uniform(0.2, 0.6) * SR), np.float32)))  # pause
        seg_text = speech_parts
        y, lab = _timeline(parts)
        if 0.25 <= style < 0.5:  # quiet bed under the speech and its pauses
            bed = music.get(len(y) / SR) * 10 ** (rng.uniform(-22, -15) / 20)
            sp = np.flatnonzero(lab == 0)
            under = np.zeros(len(y), bool)
            under[sp[0] : sp[-1] + 1] = True
            y = y + np.where(under, bed, 0).astype(np.float32)
            lab = np.where(under & (lab == 2), 1, lab).astype(np.int8)  # a pause over the bed is music
    elif kind in SONG_KINDS:
        track = music.get(rng.uniform(14, 20))
        pos = rng.uniform(1, 3)
        vox = np.zeros_like(track)
        for en, ko in lines:
            s = speak(ko if lang == "ko" else en, voice, rng.randint(100, 140), rng.randint(50, 90))
            a = int(pos * SR)
            if a + len(s) > len(vox):
                break
            vox[a : a + len(s)] += s * rng.uniform(0.5, 0.9)
            seg_text.append((pos, pos + len(s) / SR, en, ko))
            pos += len(s) / SR + rng.uniform(0.5, 1.5)
        y = track * 1.3 + vox
        lab = np.ones(len(y), np.int8)
    else:
        y = music.get(rng.uniform(10, 20))
        lab = np.ones(len(y), np.int8)
        if rng.random() < 0.4:
            h = rng.choice(HALLUCINATIONS)
            seg_text = [(0.0, min(3.0, len(y) / SR), h[0], h[1])]

    # transcript (from the script) and translation
    transcript = translation = None
    if not meta_only and not no_transcript:
        tl = lang if kind not in ("instrumental", "state_instrumental") else rng.choice(["en", "ko"])
        segs = [Segment(a, b, ko if tl == "ko" else en) for a, b, en, ko in seg_text]
        transcript = Transcript(tl, 0.9, len(y) / SR, "script", "bench", "0", "transcribe", segs)
        if tl == "ko" and rng.random() < 0.7:
            translation = Transcript("en", 0.9, len(y) / SR, "script", "bench", "0", "translate",
                                     [Segment(a, b, en) for a, b, en, _ in seg_text])

    # metadata
    registry = False
    if kind in STATE_KINDS:
        registry = rng.random() < 0.5
    elif kind in ("neutral_talk", "instrumental"):
        registry = rng.random() < 0.08  # a state outlet posting something neutral: prior, not verdict
    if registry:
        channel, channel_url = rng.choice(REGISTRY_CHANNELS)
    else:
        channel, channel_url = rng.choice(NEUTRAL_CHANNELS[kind])
    tkind = kind
    titles = [t for j, t in enumerate(TITLES[tkind]) if j % 2 == half or len(TITLES[tkind]) < 4]
    strong_meta = meta_only or (kind in STATE_KINDS and not registry) or rng.random() < 0.7
    title = rng.choice(titles)[li].format(d=date) if strong_meta else rng.choice([f"clip {i}", f"VID_{date.replace('-', '')}", f"영상 {i}", "untitled"])
    description = None
    if lines and (meta_only or rng.random() < 0.3):
        description = lines[0][li]
    tags = []
    if rng.random() < 0.4:
        tags = {"News & Politics": ["news", "뉴스"], "Music": ["music", "노래"], "Education": ["howto", "vlog"]}[PLATFORM_CATEGORY[kind]]
    r = rng.random()
    categories = [PLATFORM_CATEGORY[kind]] if r < 0.5 else [rng.choice(["Entertainment", "People & Blogs"])] if r < 0.6 else []

    wav = None
    if not meta_only:
        wav = CACHE / "clips" / split / f"{cid}.wav"
        write_wav(wav, y)
    inp = tagging.TaggingInput(
        title=title, description=description, channel=channel, channel_url=channel_url, uploader=channel,
        webpage_url=f"https://example.org/watch/{cid}", platform_tags=tags, categories=categories,
        transcript=transcript, translation=translation, audio_path=wav,
    )
    return Clip(cid, kind, lang, labels, inp, wav, _window_labels(lab) if wav else [], [l[li] for l in lines])


def build_set(split: str, seed: int, tracks: list[Path], scale: int = 1) -> list[Clip]:
    rng = random.Random(seed)
    tmp = CACHE / "tmp" / split
    tmp.mkdir(parents=True, exist_ok=True)
    music = MusicSource(tracks, rng, tmp)
    clips = []
    i = 0
    for kind, (_, n) in KINDS.items():
        for _ in range(n * scale):
            clips.append(make_clip(i, kind, split, rng, music))
            i += 1
    return clips


# -- audio profile on the synthetic clips ---------------------------------------------

def audio_window_accuracy(clips: list[Clip], model: audiosig.AudioModel) -> dict[str, tuple[int, int]]:
    """Per-window agreement on the synthetic clips (speech with a quiet bed counts as speech here)."""
    out = {"speech": [0, 0], "music": [0, 0], "silence": [0, 0]}
    for c in clips:
        if c.wav is None:
            continue
        prof = audiosig.analyse_array(read_wav(c.wav), model)
        for w, truth in enumerate(c.window_labels):
            if truth == "mixed" or w >= len(prof.labels):
                continue
            got = {"speech_over_music": "speech", "noise": "silence"}.get(prof.labels[w], prof.labels[w])
            out[truth][1] += 1
            out[truth][0] += int(got == truth)
    return {k: (a, b) for k, (a, b) in out.items()}


# -- evaluation --------------------------------------------------------------------------

def features_for(clips: list[Clip], audio_model: audiosig.AudioModel | None = None) -> list[dict[str, float]]:
    rows = []
    for c in clips:
        prof = audiosig.analyse_audio(c.wav, audio_model) if c.wav is not None else None
        rows.append(tagging.extract_features(c.inp, prof)[0])
    return rows


def metrics(truth: list[bool], pred: list[bool]) -> tuple[float, float, float, tuple[int, int, int, int]]:
    tp = sum(t and p for t, p in zip(truth, pred))
    fp = sum(p and not t for t, p in zip(truth, pred))
    fn = sum(t and not p for t, p in zip(truth, pred))
    tn = sum(not t and not p for t, p in zip(truth, pred))
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return prec, rec, f1, (tp, fp, fn, tn)


def evaluate(name: str, model: tagging.TaggingModel, rows, clips) -> list[str]:
    lines, f1s = [], []
    for cat in tagging.CATEGORIES:
        if not model.categories[cat].weights:
            lines.append(f"{name:<12} {cat:<11}   n/a (this signal has no feature for {cat})")
            continue
        truth = [c.labels[cat] for c in clips]
        pred = [t.decision for r in rows for t in tagging.score(model, r) if t.category == cat]
        p, r, f1, (tp, fp, fn, tn) = metrics(truth, pred)
        if tp + fp + fn == 0:
            lines.append(f"{name:<12} {cat:<11}   -     -     -   {tp:>3} {fp:>3} {fn:>3} {tn:>3}  (no positives, none predicted)")
            continue
        f1s.append(f1)
        lines.append(f"{name:<12} {cat:<11} {p:>5.2f} {r:>5.2f} {f1:>5.2f}   {tp:>3} {fp:>3} {fn:>3} {tn:>3}")
    lines.append(f"{name:<12} {'macro-F1':<11} {'':>5} {'':>5} {np.mean(f1s):>5.2f}")
    return lines


def signal_model(train_rows, train_clips, signal: str | None) -> tagging.TaggingModel:
    feats = [f for f, s in tagging.FEATURES.items() if signal is None or s == signal]
    return tagging.fit_model(train_rows, [c.labels for c in train_clips], features=feats, l2=1.0, version=f"bench-{signal or 'all'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", action="store_true", help="retrain and write the shipped weights")
    ap.add_argument("--whisper", type=int, default=0, help="also transcribe N English held-out clips with tiny.en")
    ap.add_argument("--train-scale", type=int, default=3, help="training clips per held-out clip of each kind")
    args = ap.parse_args()

    t0 = time.time()
    tracks = fetch_music()
    train_tracks, eval_tracks = tracks[0::2], tracks[1::2]
    print(f"real music recordings: {len(tracks)} ({len(train_tracks)} for training, {len(eval_tracks)} held out)")
    train = build_set("train", 1, train_tracks, scale=args.train_scale)
    held = build_set("eval", 2, eval_tracks)
    print(f"clips: {len(train)} training, {len(held)} held out; built in {time.time() - t0:.0f}s")

    am = audiosig.load_model()
    acc = audio_window_accuracy(held, am)
    print(f"SYNTHETIC audio windows (held out; profile {am.version}, trained on real media by bench/audio_profile.py): " + ", ".join(f"{k} {a}/{b} = {a / max(b, 1):.2f}" for k, (a, b) in acc.items()))

    t1 = time.time()
    train_rows = features_for(train, am)
    held_rows = features_for(held, am)
    print(f"features: {len(train_rows) + len(held_rows)} clips in {time.time() - t1:.0f}s")
    (CACHE / "synthetic_rows.json").write_text(json.dumps([{"id": c.id, "labels": c.labels, "x": r} for c, r in zip(train, train_rows)]) + "\n")
    if args.train:
        # the real recordings of bench/audio_profile.py, with their held-out profiles: speech, speech over music,
        # speech over noise (none of them music), music, music with effects, effects alone
        real = json.loads(REAL_ROWS.read_text()) if REAL_ROWS.exists() else []
        if not real:
            print(f"{REAL_ROWS} missing: run bench/audio_profile.py first; training on synthetic clips only", file=sys.stderr)
        full = tagging.fit_model(train_rows + [r["x"] for r in real], [c.labels for c in train] + [r["labels"] for r in real],
                                 l2=1.0, version=f"tagging-lr-{time.strftime('%Y%m%d')}")
        full.trained_on = (f"bench/tagging.py: {len(train)} synthetic clips (seed 1) + {len(real)} real recordings of "
                           f"bench/audio_profile.py (held-out profiles); audio profile {audiosig.profile_version(am)}")
        full.save(tagging.shipped_model_path())
    shipped = tagging.load_model(tagging.shipped_model_path())

    n = {c: sum(cl.labels[c] for cl in held) for c in tagging.CATEGORIES}
    print(f"\nSYNTHETIC held-out set: {len(held)} clips ({sum(cl.lang == 'ko' for cl in held)} Korean); positives: "
          + ", ".join(f"{c} {n[c]}" for c in tagging.CATEGORIES))
    print(f"{'signal':<12} {'category':<11} {'P':>5} {'R':>5} {'F1':>5}    TP  FP  FN  TN")
    for sig in tagging.SIGNALS:
        print("\n".join(evaluate(sig, signal_model(train_rows, train, sig), held_rows, held)))
    print("\n".join(evaluate("combined", shipped, held_rows, held)))

    if args.whisper:
        whisper_subset(held, held_rows, shipped, am, args.whisper)
    print(f"\ntotal {time.time() - t0:.0f}s")


def whisper_subset(held, held_rows, model, am, n: int) -> None:
    from pipeline.asr import transcribe

    per_kind = max(1, n // len(KINDS))  # stratified: the first English clips with audio of each kind
    subset = []
    for kind in KINDS:
        subset += [(c, r) for c, r in zip(held, held_rows) if c.kind == kind and c.lang == "en" and c.wav is not None][:per_kind]
    t = time.time()
    real_rows = []
    for c, _ in subset:
        tr = transcribe(c.wav, model="tiny.en")
        inp = tagging.TaggingInput(**{**c.inp.__dict__, "transcript": tr, "translation": None})
        real_rows.append(tagging.extract_features(inp, audiosig.analyse_audio(c.wav, am))[0])
    clips = [c for c, _ in subset]
    print(f"\nreal tiny.en transcripts on {len(subset)} English held-out clips, {per_kind} of each kind ({time.time() - t:.0f}s):")
    print("\n".join(evaluate("script-text", model, [r for _, r in subset], clips)))
    print("\n".join(evaluate("tiny.en", model, real_rows, clips)))


if __name__ == "__main__":
    main()
