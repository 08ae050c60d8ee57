"""Audio profile benchmark on REAL recordings, leave-one-package-out; trains the shipped weights.

    python bench/audio_profile.py                # evaluate (per held-out package) and print the tables
    python bench/audio_profile.py --train        # also fit on every package and write pipeline/data/audio_model.json
    python bench/audio_profile.py --speed        # CPU seconds per minute and peak memory on a 3-hour stream

Data (nothing synthetic): /work/media (``bash ../shared/media/fetch.sh /work/media``, or
``--media DIR``) plus Debian packages fetched here with ``apt-get download`` into
bench/.cache/audio_profile (never into git):

- speech: pocketsphinx-testdata (LibriVox audiobook + spoken cards, two speakers),
  asterisk-core-sounds-{en,fr,es,it,ru}-wav (telephone prompts, 8 kHz, one speaker each),
  asterisk-prompt-fr-armelle and asterisk-prompt-es-co (other speakers, GSM-coded),
  gradio's media assets (short film/interview quotes);
- music: asterisk-moh-opsound-wav, sonic-pi-samples (loops), scratch (music loops), gradio+pygame
  demo clips, asc-music, drascula-music, singularity-music, fb-music-high, hyperrogue-music,
  extremetuxracer-data and colobot-common-sounds (game soundtracks);
- noise: the sound effects of colobot-common-sounds, extremetuxracer-data and hyperrogue-music.

Recordings: prompts/utterances of one package are trimmed to their voiced part and joined with
pauses (0.15-0.7 s, sometimes 1.5-3 s) into ~60 s programmes; music tracks give up to 40 s each
(short loops are looped); effects are joined into ~30 s reels. Mixtures, always of packages held
out together: speech over music (a 3-5 s music intro, then the bed 6-20 dB under the speech),
speech over noise (5-20 dB SNR) and music over noise.

Truth per 1-second window: speech when >= 50 % of it is inside an utterance (speech_over_music
when a bed is under it), music / noise when no utterance touches it and the music / effect is
audible, silence when nothing is; other windows (an utterance edge) are not scored.

Folds: fold i holds out speech package i, music package i and the noise of that package (table
FOLDS), with every mixture made of them; the model is trained on the other folds' material.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.media import profile as A  # noqa: E402
from pipeline.media.probe import ffmpeg_exe  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "audio_profile"
SR = A.SR
# The real recordings of ../shared/media/fetch.sh (CLIPWATCH_REAL_MEDIA, else a "media" folder beside the checkout).
MEDIA = Path(os.environ.get("CLIPWATCH_REAL_MEDIA", Path(__file__).resolve().parents[2] / "media"))

# (package, kind, root ('media' or 'deb'), glob patterns). Asterisk's silence/ folder and tones are not speech.
SOURCES = [
    ("pocketsphinx-testdata", "speech", "media", ["speech/librivox/*.wav", "speech/cards/*.wav"]),
    ("asterisk-core-sounds-en", "speech", "media", ["speech/asterisk_en/**/*.wav"]),
    ("asterisk-core-sounds-fr", "speech", "media", ["speech/asterisk_fr/**/*.wav"]),
    ("asterisk-core-sounds-es", "speech", "media", ["speech/asterisk_es/**/*.wav"]),
    ("asterisk-core-sounds-it-wav", "speech", "deb", ["usr/share/asterisk/sounds/**/*.wav"]),
    ("asterisk-core-sounds-ru-wav", "speech", "deb", ["usr/share/asterisk/sounds/**/*.wav"]),
    ("asterisk-prompt-fr-armelle", "speech", "deb", ["usr/share/asterisk/sounds/**/*.gsm"]),
    ("asterisk-prompt-es-co", "speech", "deb", ["usr/share/asterisk/sounds/**/*.gsm"]),
    ("gradio+pygame", "speech", "media", ["speech/unlabelled/*.mp3"]),
    ("asterisk-moh-opsound-wav", "music", "media", ["music/opsound/*.wav"]),
    ("sonic-pi-samples", "music", "media", ["music/sonicpi_loops/*.flac"]),
    ("scratch", "music", "media", ["music/scratch/*.mp3"]),
    ("gradio+pygame", "music", "media", ["music/misc/*"]),
    ("asc-music", "music", "deb", ["usr/share/**/*.mp3"]),
    ("drascula-music", "music", "deb", ["usr/share/**/*.ogg"]),
    ("singularity-music", "music", "deb", ["usr/share/**/*.ogg"]),
    ("fb-music-high", "music", "deb", ["usr/share/**/*.xm"]),
    ("hyperrogue-music", "music", "deb", ["usr/share/hyperrogue/music/*.ogg"]),
    ("extremetuxracer-data", "music", "deb", ["usr/share/games/etr/music/*.ogg"]),
    ("colobot-common-sounds", "music", "deb", ["usr/share/games/colobot/music/*.ogg"]),
    ("hyperrogue-music", "noise", "deb", ["usr/share/hyperrogue/sounds/*.ogg"]),
    ("extremetuxracer-data", "noise", "deb", ["usr/share/games/etr/sounds/*.wav"]),
    ("colobot-common-sounds", "noise", "deb", ["usr/share/games/colobot/sounds/*.wav"]),
    ("openttd-opensfx", "noise", "deb", ["split/*.wav"]),  # the WAV files inside opensfx.cat
]
NOT_SPEECH = ("/silence/", "beep", "tone", "dtmf", "jingle", "ding", "ring", "busy", "congestion", "hold", "music", "dial")
DEBS = sorted({p for p, _, root, _ in SOURCES if root == "deb"})
# fold -> packages held out together (speech package, music package; noise comes with its package)
FOLDS = [
    ("pocketsphinx-testdata", "asterisk-moh-opsound-wav"),
    ("asterisk-core-sounds-en", "sonic-pi-samples"),
    ("asterisk-core-sounds-fr", "scratch"),
    ("asterisk-core-sounds-es", "colobot-common-sounds"),
    ("asterisk-core-sounds-it-wav", "asc-music"),
    ("asterisk-core-sounds-ru-wav", "drascula-music"),
    ("asterisk-prompt-fr-armelle", "singularity-music"),
    ("asterisk-prompt-es-co", "extremetuxracer-data"),
    ("gradio+pygame", "hyperrogue-music"),
    ("fb-music-high", "openttd-opensfx"),
]
BUDGET_S = {"speech": 480, "music": 480, "noise": 300}  # seconds of clean material per package and kind
COARSE = {"speech": "speech", "speech_over_music": "speech", "music": "music", "noise": "other", "silence": "other"}


def fold_of(pkg: str) -> int:
    return next(i for i, f in enumerate(FOLDS) if pkg in f)


# -- fetching and decoding ------------------------------------------------------------

def fetch_debs() -> Path:
    x = CACHE / "debs" / "x"
    debdir = CACHE / "debs"
    debdir.mkdir(parents=True, exist_ok=True)
    missing = [p for p in DEBS if not (x / p).is_dir()]
    if missing:
        if not shutil.which("apt-get"):
            sys.exit("apt-get is needed to fetch " + ", ".join(missing))
        r = subprocess.run(["apt-get", "download", *missing], cwd=debdir, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"apt-get download failed (run `apt-get update` first?): {r.stderr.strip()[:300]}")
        for p in missing:
            deb = next(debdir.glob(f"{p}_*.deb"))
            subprocess.run(["dpkg", "-x", str(deb), str(x / p)], check=True)
    split_cat(x / "openttd-opensfx")
    return x


def split_cat(root: Path) -> None:
    """OpenSFX ships its effects as RIFF/WAV files one after another in opensfx.cat: cut them out."""
    out = root / "split"
    cats = list(root.rglob("*.cat"))
    if out.is_dir() or not cats:
        return
    data = cats[0].read_bytes()
    out.mkdir()
    pos, n = data.find(b"RIFF"), 0
    while pos >= 0:
        size = int.from_bytes(data[pos + 4 : pos + 8], "little") + 8
        (out / f"sfx{n:03d}.wav").write_bytes(data[pos : pos + size])
        n += 1
        pos = data.find(b"RIFF", pos + size)


def decode(src: Path, dst: Path) -> Path | None:
    if dst.exists():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp")
    r = subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-ac", "1", "-ar", str(SR),
                        "-f", "f32le", str(tmp)], capture_output=True)
    if r.returncode != 0 or not tmp.exists() or tmp.stat().st_size < SR:  # under 1/4 s: useless
        tmp.unlink(missing_ok=True)
        return None
    tmp.replace(dst)
    return dst


REFERENCE: dict[Path, str] = {}  # decoded file -> what is said in it, where the package says it


def reference_texts(media: Path) -> dict[Path, str]:
    """Source file -> reference text: Asterisk's core-sounds-*.txt, pocketsphinx-testdata's transcriptions."""
    out = {}
    for txt in (media / "speech").glob("asterisk_*/core-sounds-*.txt"):
        for line in txt.read_text(encoding="utf-8", errors="replace").splitlines():
            if ":" in line and not line.startswith(";"):
                key, text = line.split(":", 1)
                out[txt.parent / f"{key.strip()}.wav"] = text.strip()
    for tr in [media / "speech/librivox/transcription", media / "speech/cards/cards.transcription"]:
        if tr.exists():
            for line in tr.read_text(errors="replace").splitlines():
                if "(" in line:
                    text, key = line.rsplit("(", 1)
                    out[tr.parent / f"{key.strip(') ')}.wav"] = " ".join(text.replace("<s>", " ").replace("</s>", " ").split())
    return out


def collect(media: Path) -> dict[tuple[str, str], list[Path]]:
    """(package, kind) -> decoded .f32 files."""
    x = fetch_debs()
    refs = reference_texts(media)
    jobs, out = [], {}
    for pkg, kind, root, globs in SOURCES:
        base = media if root == "media" else x / pkg
        files = sorted({f for g in globs for f in base.glob(g) if f.is_file()})
        if kind == "speech":
            files = [f for f in files if not any(t in str(f).lower() for t in NOT_SPEECH)]
        if not files:
            print(f"warning: no files for {pkg} ({kind}) under {base}", file=sys.stderr)
        for f in files:
            h = hashlib.sha1(str(f.relative_to(base)).encode()).hexdigest()[:10]
            dst = CACHE / "decoded" / pkg / kind / f"{f.stem}-{h}.f32"
            jobs.append(((pkg, kind), f, dst))
            if f in refs:
                REFERENCE[dst] = refs[f]
    with cf.ThreadPoolExecutor(2) as ex:
        results = list(ex.map(lambda j: (j[0], decode(j[1], j[2])), jobs))
    for key, p in results:
        if p is not None:
            out.setdefault(key, []).append(p)
    return out


def load(p: Path) -> np.ndarray:
    return np.fromfile(p, np.float32)


# -- recordings ----------------------------------------------------------------------------

@dataclass
class Recording:
    id: str
    kind: str  # speech | music | noise | speech_over_music | speech_noise | music_noise
    packages: tuple[str, ...]
    y: np.ndarray
    speech: np.ndarray  # bool per sample: inside an utterance
    music: np.ndarray  # bool per sample: music audible
    noise: np.ndarray  # bool per sample: effect audible
    truth: list[str | None] = field(default_factory=list)
    texts: list[tuple[float, float, str]] = field(default_factory=list)  # what is said when, where known

    @property
    def fold(self) -> int:
        return fold_of(self.packages[0])


def _active(y: np.ndarray, rel_db: float = -35.0, floor_db: float = -55.0) -> np.ndarray:
    """Per-sample mask of 10 ms frames above max(peak + rel_db, floor_db)."""
    n = len(y) // 160
    if n == 0:
        return np.zeros(len(y), bool)
    e = 10 * np.log10((y[: n * 160].reshape(n, 160).astype(np.float64) ** 2).mean(axis=1) + 1e-12)
    on = e > max(e.max() + rel_db, floor_db)
    return np.pad(np.repeat(on, 160), (0, len(y) - n * 160), mode="edge")


def _trim(y: np.ndarray) -> np.ndarray:
    on = np.flatnonzero(_active(y))
    return y[on[0] : on[-1] + 1] if len(on) else y[:0]


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64))) + 1e-9)


def _floor(rng: np.random.Generator, n: int) -> np.ndarray:
    return (rng.standard_normal(n) * 10 ** (-70 / 20)).astype(np.float32)  # a quiet line floor, -70 dBFS


def speech_programmes(pkg: str, files: list[Path], seed: int) -> list[Recording]:
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    files = files[:]
    rng.shuffle(files)
    out, used = [], 0.0
    parts, mask, length, texts = [], [], 0, []
    for f in files:
        u = _trim(load(f))
        if len(u) < SR // 5:
            continue
        if f in REFERENCE:
            texts.append((length / SR, (length + len(u)) / SR, REFERENCE[f]))
        u = u / max(_rms(u), 1e-4) * 0.08 * 10 ** (rng.uniform(-6, 6) / 20)  # speakers' levels vary
        gap = rng.uniform(1.5, 3.0) if rng.random() < 0.1 else rng.uniform(0.15, 0.7)
        g = _floor(nrng, int(gap * SR))
        parts += [u.astype(np.float32), g]
        mask += [np.ones(len(u), bool), np.zeros(len(g), bool)]
        length += len(u) + len(g)
        if length >= 60 * SR:
            out.append((parts, mask, texts))
            used += length / SR
            parts, mask, length, texts = [], [], 0, []
            if used >= BUDGET_S["speech"]:
                break
    if parts and (length >= 8 * SR or not out):
        out.append((parts, mask, texts))
    recs = []
    for i, (p, m, t) in enumerate(out):
        lead = _floor(nrng, int(0.5 * SR))
        y = np.concatenate([lead, *p])
        sp = np.concatenate([np.zeros(len(lead), bool), *m])
        recs.append(Recording(f"{pkg}/speech{i:02d}", "speech", (pkg,), y, sp, np.zeros(len(y), bool), np.zeros(len(y), bool),
                              texts=[(a + 0.5, b + 0.5, x) for a, b, x in t]))
    return recs


def music_recordings(pkg: str, files: list[Path], seed: int) -> list[Recording]:
    rng = random.Random(seed)
    files = files[:]
    rng.shuffle(files)
    recs, used = [], 0.0
    for i, f in enumerate(files):
        y = load(f)
        if len(y) < 2 * SR:
            continue
        if len(y) < 12 * SR:  # a loop: played as loops are played
            y = np.tile(y, int(np.ceil(20 * SR / len(y))))[: 20 * SR]
        if len(y) > 40 * SR:
            a = rng.randint(0, len(y) - 40 * SR)
            y = y[a : a + 40 * SR]
        if _rms(y) < 1e-3:
            continue
        y = (y / _rms(y) * 0.1 * 10 ** (rng.uniform(-6, 6) / 20)).clip(-1, 1).astype(np.float32)
        audible = _active(y, rel_db=-45, floor_db=-50)
        recs.append(Recording(f"{pkg}/music{i:02d}", "music", (pkg,), y, np.zeros(len(y), bool), audible, np.zeros(len(y), bool)))
        used += len(y) / SR
        if used >= BUDGET_S["music"]:
            break
    return recs


def noise_reels(pkg: str, files: list[Path], seed: int) -> list[Recording]:
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    files = files[:]
    rng.shuffle(files)
    recs, parts, mask, length, used = [], [], [], 0, 0.0
    for f in files:
        u = _trim(load(f))[: 8 * SR]
        if len(u) < SR // 2:
            continue
        u = u / max(_rms(u), 1e-4) * 0.1 * 10 ** (rng.uniform(-6, 6) / 20)
        g = _floor(nrng, int(rng.uniform(0.1, 0.5) * SR))
        parts += [u.clip(-1, 1).astype(np.float32), g]
        mask += [_active(u, -40, -50), np.zeros(len(g), bool)]
        length += len(u) + len(g)
        if length >= 30 * SR:
            y = np.concatenate(parts)
            recs.append(Recording(f"{pkg}/noise{len(recs):02d}", "noise", (pkg,), y, np.zeros(len(y), bool), np.zeros(len(y), bool), np.concatenate(mask)))
            used += length / SR
            parts, mask, length = [], [], 0
            if used >= BUDGET_S["noise"]:
                break
    if length >= 8 * SR:
        y = np.concatenate(parts)
        recs.append(Recording(f"{pkg}/noise{len(recs):02d}", "noise", (pkg,), y, np.zeros(len(y), bool), np.zeros(len(y), bool), np.concatenate(mask)))
    return recs


def mix(a: Recording, b: Recording, kind: str, rel_db: float, rng: random.Random, intro_s: float = 0.0) -> Recording:
    """a (speech or music) with b (music bed or noise) under it at rel_db relative to a's active level."""
    level = _rms(a.y[a.speech]) if a.speech.any() else _rms(a.y)
    bed = b.y
    n_intro = int(intro_s * SR)
    need = len(a.y) + n_intro
    if len(bed) < need:
        bed = np.tile(bed, int(np.ceil(need / len(bed))))
        bmask_m, bmask_n = np.tile(b.music, int(np.ceil(need / len(b.y)))), np.tile(b.noise, int(np.ceil(need / len(b.y))))
    else:
        bmask_m, bmask_n = b.music, b.noise
    bed, bmask_m, bmask_n = bed[:need], bmask_m[:need], bmask_n[:need]
    gain = level * 10 ** (rel_db / 20) / _rms(bed)
    bed = bed * gain
    if n_intro:  # the jingle plays alone, then ducks under the voice
        bed[:n_intro] *= 10 ** (-rel_db / 20) * 0.7
    y = np.concatenate([np.zeros(n_intro, np.float32), a.y]) + bed
    pad = np.zeros(n_intro, bool)
    return Recording(f"{a.id}+{b.id.split('/')[-1]}", kind, a.packages + b.packages, y.clip(-1, 1).astype(np.float32),
                     np.concatenate([pad, a.speech]), np.concatenate([pad, a.music]) | bmask_m, np.concatenate([pad, a.noise]) | bmask_n,
                     texts=[(s + intro_s, e + intro_s, x) for s, e, x in a.texts])


def window_truth(r: Recording) -> list[str | None]:
    n = int(len(r.y) // SR + (1 if len(r.y) % SR >= SR / 2 else 0))
    out = []
    for w in range(n):
        s = slice(w * SR, (w + 1) * SR)
        sp, mu, no = r.speech[s].mean(), r.music[s].mean(), r.noise[s].mean()
        if sp >= 0.5:
            out.append("speech_over_music" if mu >= 0.5 else "speech")
        elif sp > 0:
            out.append(None)  # an utterance edge: not scored
        elif mu >= 0.5:
            out.append("music")
        elif no >= 0.5:
            out.append("noise")
        elif mu == 0 and no == 0:
            out.append("silence")
        else:
            out.append(None)
    return out


def build_recordings(files: dict[tuple[str, str], list[Path]]) -> list[Recording]:
    recs: list[Recording] = []
    for (pkg, kind), fs in sorted(files.items()):
        seed = int(hashlib.sha1(f"{pkg}/{kind}".encode()).hexdigest()[:8], 16)
        recs += {"speech": speech_programmes, "music": music_recordings, "noise": noise_reels}[kind](pkg, fs, seed)
    rng = random.Random(7)
    by_fold: dict[int, dict[str, list[Recording]]] = {}
    for r in recs:
        by_fold.setdefault(r.fold, {}).setdefault(r.kind, []).append(r)
    mixes = []
    for fold, kinds in sorted(by_fold.items()):
        sp, mu, no = kinds.get("speech", []), kinds.get("music", []), kinds.get("noise", [])
        for i, s in enumerate(sp):
            if mu and i % 2 == 0:
                mixes.append(mix(s, mu[i % len(mu)], "speech_over_music", -rng.uniform(6, 20), rng, intro_s=rng.uniform(3, 5)))
            if no and i % 3 == 1:
                mixes.append(mix(s, no[i % len(no)], "speech_noise", -rng.uniform(5, 20), rng))
        for i, m in enumerate(mu):
            if no and i % 3 == 0:
                mixes.append(mix(m, no[i % len(no)], "music_noise", -rng.uniform(8, 20), rng))
    recs += mixes
    for r in recs:
        r.truth = window_truth(r)
    return recs


# -- features (cached) ----------------------------------------------------------------------

def features(r: Recording) -> np.ndarray:
    key = hashlib.sha1(r.y.tobytes()).hexdigest()[:16]
    p = CACHE / "features" / A.FEATURES_VERSION / f"{key}.npy"
    if p.exists():
        return np.load(p)
    f = A.window_features(r.y)
    p.parent.mkdir(parents=True, exist_ok=True)
    np.save(p, f)
    return f


# -- model -------------------------------------------------------------------------------------

HIDDEN = (64,)


def train(feats: list[np.ndarray], truths: list[list[str | None]], seed: int = 0, hidden=None) -> A.AudioModel:
    from sklearn.neural_network import MLPClassifier

    X, Y = [], []
    for f, t in zip(feats, truths):
        ctx = A.context_features(f)
        silent = A.silent_windows(f)
        for row, lab, sil in zip(ctx, t, silent):
            if lab in A.CLASSES and not sil:
                X.append(row)
                Y.append(A.CLASSES.index(lab))
    X, Y = np.asarray(X, np.float64), np.asarray(Y)
    mean, std = X.mean(axis=0), X.std(axis=0) + 1e-6
    # balance the classes by resampling (MLPClassifier has no sample weights)
    rs = np.random.default_rng(seed)
    per = int(np.bincount(Y, minlength=len(A.CLASSES)).max())
    idx = np.concatenate([rs.choice(np.flatnonzero(Y == c), per, replace=True) for c in range(len(A.CLASSES)) if (Y == c).any()])
    clf = MLPClassifier(hidden_layer_sizes=tuple(hidden or HIDDEN), alpha=1e-3, max_iter=300, early_stopping=True, random_state=seed)
    clf.fit((X[idx] - mean) / std, Y[idx])
    classes = tuple(A.CLASSES[c] for c in clf.classes_)
    layers = tuple((w, b) for w, b in zip(clf.coefs_, clf.intercepts_))
    return A.AudioModel(f"audio-mlp-{time.strftime('%Y%m%d')}", classes, mean, std, layers)


def predict_labels(f: np.ndarray, model: A.AudioModel) -> list[str]:
    return A.classify_features(f, model).labels


# -- evaluation ------------------------------------------------------------------------------------

def acc(pairs: list[tuple[str, str]]) -> tuple[int, int]:
    return sum(t == p for t, p in pairs), len(pairs)


def fmt(a: tuple[int, int]) -> str:
    return f"{a[0] / a[1]:6.1%} ({a[1]:>4})" if a[1] else "     -       "


def evaluate(recs, feats, old_model, args) -> dict:
    results = {}
    for fold in range(len(FOLDS)):
        held = [i for i, r in enumerate(recs) if r.fold == fold]
        trn = [i for i, r in enumerate(recs) if r.fold != fold]
        t = time.time()
        model = train([feats[i] for i in trn], [recs[i].truth for i in trn])
        no_vad = None
        if args.ablate:
            keep = [j for j, n in enumerate(A.BASE_FEATURES) if not n.startswith("vad_")]
            no_vad = _ablated_model([feats[i] for i in trn], [recs[i].truth for i in trn], keep)
        for i in held:
            r = recs[i]
            prof = A.classify_features(feats[i], model, duration=len(r.y) / SR)
            results[i] = {
                "profile": prof,
                "new": prof.labels,
                "old": old_model(r.y) if old_model else None,
                "silero": ["speech" if v > 0.5 else "other" for v in feats[i][:, A.FEATURE_NAMES.index("vad_mean")]],
                "novad": no_vad(feats[i]) if no_vad else None,
            }
        print(f"  fold {fold} ({', '.join(FOLDS[fold])}): {len(held)} recordings held out, trained in {time.time() - t:.0f}s", file=sys.stderr)
    return results


def _ablated_model(feats, truths, keep):
    """The same classifier without the Silero features (columns zeroed in training and use)."""
    cols = [k * len(A.BASE_FEATURES) + j for k in range(A.CONTEXT) for j in keep]
    drop = np.setdiff1d(np.arange(A.CONTEXT * len(A.BASE_FEATURES)), cols)
    from sklearn.neural_network import MLPClassifier
    X, Y = [], []
    for f, t in zip(feats, truths):
        ctx = A.context_features(f)
        for row, lab, sil in zip(ctx, t, A.silent_windows(f)):
            if lab in A.CLASSES and not sil:
                X.append(row)
                Y.append(A.CLASSES.index(lab))
    X, Y = np.asarray(X), np.asarray(Y)
    X[:, drop] = 0
    mean, std = X.mean(axis=0), X.std(axis=0) + 1e-6
    rs = np.random.default_rng(0)
    per = int(np.bincount(Y).max())
    idx = np.concatenate([rs.choice(np.flatnonzero(Y == c), per) for c in np.unique(Y)])
    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, alpha=1e-3, max_iter=300, early_stopping=True, random_state=0)
    clf.fit((X[idx] - mean) / std, Y[idx])
    m = A.AudioModel("ablated", tuple(A.CLASSES[c] for c in clf.classes_), mean, std,
                     tuple((w, b) for w, b in zip(clf.coefs_, clf.intercepts_)))

    def run(f):
        f = f.copy()
        return A.classify_features(f, _ZeroCols(m, drop)).labels
    return run


class _ZeroCols:
    """Wraps a model so that the dropped input columns are zero at prediction time too."""

    def __init__(self, m, drop):
        self.m, self.drop = m, drop
        self.classes, self.version = m.classes, m.version

    def predict_proba(self, x):
        x = np.array(x)
        x[:, self.drop] = 0
        return self.m.predict_proba(x)


OLD_REV = "a1acc0e"  # the last commit with the espeak-trained classifier (issue 11's "before")


def old_profiler():
    """The classifier shipped before issue 11 (its code and weights from git), for the comparison column."""
    p = CACHE / "old_audio.py"
    if not p.exists():
        try:
            code = subprocess.run(["git", "show", f"{OLD_REV}:pipeline/signals/audio.py"], cwd=ROOT, capture_output=True, check=True).stdout
            weights = subprocess.run(["git", "show", f"{OLD_REV}:pipeline/data/audio_model.json"], cwd=ROOT, capture_output=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return None
        CACHE.mkdir(parents=True, exist_ok=True)
        (CACHE / "old_audio_model.json").write_bytes(weights)
        p.write_bytes(code)
    import importlib.util
    spec = importlib.util.spec_from_file_location("old_audio", p)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_audio"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    model = mod.AudioModel.from_json(json.loads((CACHE / "old_audio_model.json").read_text()))
    return lambda y: [lab for s in mod.classify_features(mod.window_features(y), model).spans
                      for lab in [s.label] * round(s.end - s.start)]


def report(recs, results, feats) -> None:
    have_old = any(v["old"] for v in results.values())
    have_novad = any(v["novad"] for v in results.values())
    print("\nPer-second accuracy on held-out packages (real recordings; leave-one-package-out).")
    print("coarse = speech-bearing (speech, speech over music) / music / other (noise, silence);")
    print("fine = the five labels; speech-vs-not = speech-bearing or not (Silero VAD alone can only say this).")
    hdr = f"{'held-out package':<28} {'material':<18} {'coarse (n)':>14} {'fine':>14} {'speech-vs-not':>14} {'Silero VAD':>14}"
    if have_novad:
        hdr += f" {'no-Silero coarse':>17}"
    if have_old:
        hdr += f" {'old model coarse':>17}"
    print(hdr)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(recs):
        groups.setdefault((r.packages[0], r.kind), []).append(i)
    agg = {"coarse": [], "fine": [], "svn": [], "sil": [], "old": [], "novad": []}
    for (pkg, kind), idx in sorted(groups.items(), key=lambda kv: (fold_of(kv[0][0]), kv[0][1])):
        c, f, svn, sil, old, nv = [], [], [], [], [], []
        for i in idx:
            res = results[i]
            for w, t in enumerate(recs[i].truth):
                if t is None or w >= len(res["new"]):
                    continue
                p = res["new"][w]
                c.append((COARSE[t], COARSE[p]))
                f.append((t, p))
                ts = "speech" if COARSE[t] == "speech" else "other"
                svn.append((ts, "speech" if COARSE[p] == "speech" else "other"))
                sil.append((ts, res["silero"][w]))
                if res["old"] and w < len(res["old"]):
                    old.append((COARSE[t], COARSE[res["old"][w]]))
                if res["novad"]:
                    nv.append((COARSE[t], COARSE[res["novad"][w]]))
        name = pkg if kind in ("speech", "music", "noise") else f"{pkg} +{'/'.join(p for p in recs[idx[0]].packages[1:])}"
        line = f"{name[:28]:<28} {kind:<18} {fmt(acc(c)):>14} {fmt(acc(f))[:6]:>14} {fmt(acc(svn))[:6]:>14} {fmt(acc(sil))[:6]:>14}"
        if have_novad:
            line += f" {fmt(acc(nv))[:6]:>17}"
        if have_old:
            line += f" {fmt(acc(old))[:6]:>17}"
        print(line)
        for k, v in (("coarse", c), ("fine", f), ("svn", svn), ("sil", sil), ("old", old), ("novad", nv)):
            agg[k] += v
    line = f"{'all held-out windows':<28} {'':<18} {fmt(acc(agg['coarse'])):>14} {fmt(acc(agg['fine']))[:6]:>14} {fmt(acc(agg['svn']))[:6]:>14} {fmt(acc(agg['sil']))[:6]:>14}"
    if have_novad:
        line += f" {fmt(acc(agg['novad']))[:6]:>17}"
    if have_old:
        line += f" {fmt(acc(agg['old']))[:6]:>17}"
    print(line)

    labs = list(A.LABELS)
    cm = np.zeros((len(labs), len(labs)), int)
    for t, p in agg["fine"]:
        cm[labs.index(t), labs.index(p)] += 1
    print("\nconfusion, all held-out windows (rows truth, columns profile):")
    print(f"{'':<18}" + "".join(f"{l[:10]:>11}" for l in labs))
    for i, l in enumerate(labs):
        print(f"{l:<18}" + "".join(f"{v:>11}" for v in cm[i]))

    misses = [(r.id, results[i]["profile"]) for i, r in enumerate(recs)
              if (r.kind in ("music", "music_noise")) != (results[i]["profile"].music >= 0.5)]
    if misses:
        print("\nrecordings whose held-out music share is on the wrong side of 0.5:")
        for rid, prof in misses:
            print(f"  {rid}: {prof.summary()}")
    video_table(recs, results, have_old)


LANG = {"asterisk-core-sounds-fr": "fr", "asterisk-core-sounds-es": "es"}


REAL_ROWS = CACHE / "real_rows.json"  # held-out tagging features of every real recording (read by bench/tagging.py --train)
SYNTHETIC_ROWS = ROOT / "bench" / ".cache" / "tagging" / "synthetic_rows.json"  # written by bench/tagging.py


def real_labels(r: Recording) -> dict[str, bool]:
    return {"news": False, "music": r.kind in ("music", "music_noise"), "propaganda": False}


def video_table(recs, results, have_old: bool) -> None:
    """Each real recording as a video: held-out profile + reference transcript (where the package has one) + no metadata.

    The combiner is refitted per fold (bench/tagging.py's synthetic clips + the real recordings of the other folds),
    so neither the profile nor the combiner has seen the held-out packages.
    """
    from pipeline.asr import Segment, Transcript
    from pipeline.tagging import model as tagging

    feats_rows = []
    for i, r in enumerate(recs):
        prof = results[i]["profile"]
        tr = None
        if r.texts:
            tr = Transcript(LANG.get(r.packages[0], "en"), 0.9, len(r.y) / SR, "reference", "bench", "0", "transcribe",
                            [Segment(a, b, t) for a, b, t in r.texts])
        inp = tagging.TaggingInput(title=None, description=None, channel=None, channel_url=None, uploader=None, webpage_url=None,
                                   platform_tags=[], categories=[], transcript=tr)
        feats_rows.append(tagging.extract_features(inp, prof))
    REAL_ROWS.write_text(json.dumps([{"id": r.id, "fold": r.fold, "kind": r.kind, "labels": real_labels(r), "x": x}
                                     for r, (x, _) in zip(recs, feats_rows)]) + "\n", encoding="utf-8")
    synthetic = json.loads(SYNTHETIC_ROWS.read_text()) if SYNTHETIC_ROWS.exists() else None
    shipped = tagging.load_model(tagging.shipped_model_path())
    combiners = {}
    for fold in range(len(FOLDS)):
        if synthetic is None:
            combiners[fold] = shipped
            continue
        rows = [s["x"] for s in synthetic] + [x for r, (x, _) in zip(recs, feats_rows) if r.fold != fold]
        labels = [s["labels"] for s in synthetic] + [real_labels(r) for r in recs if r.fold != fold]
        combiners[fold] = tagging.fit_model(rows, labels, l2=1.0, version=f"fold{fold}")
    scored = []
    for i, r in enumerate(recs):
        x, why = feats_rows[i]
        prof = results[i]["profile"]
        tags = {t.category: t for t in tagging.score(combiners[r.fold], x, why)}
        old = results[i]["old"]
        old_music = (old.count("music") / max(1, len(old))) if old else None
        scored.append((r, tags, prof, old_music))
    how = ("refitted per fold on bench/tagging.py's synthetic clips + the other folds' real recordings" if synthetic
           else f"the shipped {shipped.version}; run bench/tagging.py --train for the per-fold refit")
    print(f"\nVideo level: each real recording tagged with its held-out profile, its reference transcript where the package has one "
          f"(asterisk en/fr/es prompt texts, pocketsphinx transcriptions) and no metadata; combiner {how}.")
    hdr = f"{'material':<20} {'n':>4} {'with text':>9} {'music>=0.5':>10} {'news>=0.5':>9} {'prop>=0.5':>9} {'music score min-max':>20}"
    if have_old:
        hdr += f" {'old profile: music share>=0.5':>30}"
    print(hdr)
    for kind in ("speech", "speech_noise", "speech_over_music", "music", "music_noise", "noise"):
        rows = [t for t in scored if t[0].kind == kind]
        if not rows:
            continue
        ms = [t[1]["music"].score for t in rows]
        line = (f"{kind:<20} {len(rows):>4} {sum(bool(t[0].texts) for t in rows):>9} {sum(m >= 0.5 for m in ms):>10} "
                f"{sum(t[1]['news'].score >= 0.5 for t in rows):>9} {sum(t[1]['propaganda'].score >= 0.5 for t in rows):>9} "
                f"{min(ms):>9.2f} - {max(ms):.2f}")
        if have_old:
            line += f" {sum((t[3] or 0) >= 0.5 for t in rows):>30}"
        print(line)
    print(f"\n{'category':<11} {'P':>5} {'R':>5} {'F1':>5}   TP  FP  FN  TN   (real recordings; truth: music = music / music with effects)")
    for cat in ("music", "news", "propaganda"):
        truth = [cat == "music" and t[0].kind in ("music", "music_noise") for t in scored]
        pred = [t[1][cat].score >= 0.5 for t in scored]
        tp = sum(a and b for a, b in zip(truth, pred))
        fp = sum(b and not a for a, b in zip(truth, pred))
        fn = sum(a and not b for a, b in zip(truth, pred))
        tn = len(truth) - tp - fp - fn
        pr = tp / (tp + fp) if tp + fp else float("nan")
        rc = tp / (tp + fn) if tp + fn else float("nan")
        f1 = 2 * pr * rc / (pr + rc) if tp else float("nan")
        note = "" if cat == "music" else "   no real positives offline: only false positives are measured"
        print(f"{cat:<11} {pr:>5.2f} {rc:>5.2f} {f1:>5.2f}  {tp:>3} {fp:>3} {fn:>3} {tn:>3}{note}")
    worst = max((t for t in scored if t[0].kind in ("speech", "speech_noise")), key=lambda t: t[1]["music"].score)
    print(f"\nhighest music score among speech recordings: {worst[0].id} {worst[1]['music'].score:.2f} "
          f"({worst[2].summary()}): {'; '.join(worst[1]['music'].evidence)}")
    newsy = max(scored, key=lambda t: t[1]["news"].score)
    print(f"highest news score: {newsy[0].id} {newsy[1]['news'].score:.2f}: {'; '.join(newsy[1]['news'].evidence)}")


def speed(hours: float = 3.0) -> None:
    """CPU seconds per minute of audio, and max RSS, while profiling a long stream fed in 30 s chunks."""
    files = sorted((CACHE / "decoded").rglob("*.f32"))
    if not files:
        sys.exit("run bench/audio_profile.py once first (it decodes the real recordings this measurement replays)")
    pool = np.concatenate([load(p) for p in files[:: max(1, len(files) // 60)]])[: 600 * SR]

    def chunks():
        n, step = int(hours * 3600 * SR), 30 * SR
        for a in range(0, n, step):
            b = a % len(pool)
            c = pool[b : b + step]
            yield c if len(c) == step else np.concatenate([c, pool[: step - len(c)]])

    A.load_model()
    A.analyse_array(pool[: 40 * SR])  # loads Silero and warms up
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t, w = time.process_time(), time.time()
    prof = A.analyse_stream(chunks())
    cpu = time.process_time() - t
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    minutes = prof.duration / 60
    print(f"{hours:g}-hour stream of real recordings ({prof.duration:.0f} s, {len(prof.labels)} windows, {prof.summary()}): "
          f"{cpu / minutes:.2f} s CPU per minute of audio ({cpu:.0f} s CPU, {time.time() - w:.0f} s wall, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); max RSS {rss0:.0f} MiB before, {rss1:.0f} MiB after")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", action="store_true", help="fit on all packages and write pipeline/data/audio_model.json")
    ap.add_argument("--media", type=Path, default=MEDIA)
    ap.add_argument("--ablate", action="store_true", help="also evaluate the classifier without the Silero features")
    ap.add_argument("--fast", action="store_true", help="leave out the old classifier's column (it decodes every recording again)")
    ap.add_argument("--reuse", action="store_true", help="reuse the held-out profiles of the last run (tables only)")
    ap.add_argument("--hidden", type=int, nargs="+", default=[64], help="hidden layer sizes of the MLP")
    ap.add_argument("--speed", action="store_true", help="only measure CPU per minute and memory on a 3-hour stream")
    args = ap.parse_args()
    global HIDDEN
    HIDDEN = tuple(args.hidden)
    t0 = time.time()
    if args.speed:
        speed(1.0)
        speed(3.0)
        return
    files = collect(args.media)
    recs = build_recordings(files)
    kinds = {}
    for r in recs:
        kinds[r.kind] = kinds.get(r.kind, 0) + len(r.y) / SR
    print("material: " + ", ".join(f"{k} {v / 60:.0f} min" for k, v in kinds.items()) + f"; {len(recs)} recordings from "
          f"{len({p for r in recs for p in r.packages})} packages (built in {time.time() - t0:.0f}s)")
    with cf.ThreadPoolExecutor(2) as ex:
        feats = list(ex.map(features, recs))
    print(f"features: {sum(len(f) for f in feats)} windows in {time.time() - t0:.0f}s", file=sys.stderr)
    held_path = CACHE / f"heldout-{A.FEATURES_VERSION}.json"
    if args.reuse and held_path.exists():
        saved = json.loads(held_path.read_text())
        results = {i: {**saved[r.id], "profile": A.AudioProfile.from_dict(saved[r.id]["profile"])} for i, r in enumerate(recs)}
        print(f"held-out profiles reused from {held_path.relative_to(ROOT)}", file=sys.stderr)
    else:
        results = evaluate(recs, feats, None if args.fast else old_profiler(), args)
        held_path.write_text(json.dumps({recs[i].id: {**v, "profile": v["profile"].to_dict()} for i, v in results.items()}) + "\n")
    report(recs, results, feats)
    if args.train and not args.reuse:
        model = train(feats, [r.truth for r in recs])
        pk = sorted({p for r in recs for p in r.packages})
        model = A.AudioModel(model.version, model.classes, model.mean, model.std, model.layers,
                             f"bench/audio_profile.py: {sum(len(f) for f in feats)} one-second windows of real recordings "
                             f"and their mixtures from {len(pk)} packages: {', '.join(pk)}")
        out = A.model_path()
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(model.to_json()) + "\n", encoding="utf-8")
        tmp.replace(out)
        A.load_model.cache_clear()
        print(f"\nwrote {out.relative_to(ROOT)} ({model.version}, classes {', '.join(model.classes)})")
    print(f"\ntotal {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
