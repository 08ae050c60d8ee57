"""Benchmark the transcription stage: models x engines on the same clips, and the stage vs the raw engine.

Run by hand:   python bench/transcribe.py [--skip-10min] [--configs tiny.en/fw-int8,base/ow-fp32]

Set-up (into bench/.cache, never into git):
* espeak-ng English: a ~55 s news-style clip, and a 10-minute clip (the same
  paragraphs in rotation, three voices, three speeds) used for peak memory;
* real recorded speech with reference transcripts from Debian packages, fetched
  with ``apt-get download`` and unpacked with ``dpkg-deb -x``:
  - ``pocketsphinx-testdata``: five LibriVox read-speech utterances (Sense and
    Sensibility) with their ``transcription`` file, joined into one clip;
  - ``asterisk-core-sounds-en-wav`` + ``asterisk-core-sounds-en``: telephony
    prompts (a US English voice actor, 8 kHz) with their texts from
    ``core-sounds-en.txt``; the longest prompts without digits are joined.

Each (model, engine, clip) runs in its own subprocess, so its peak RSS
(ru_maxrss, model load included) belongs to that configuration alone. RTF here
is audio seconds / wall seconds (higher is faster), model load excluded. WER and
CER are against the reference after the same normalisation for every config
(lower case, no punctuation, digits spelled out).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache" / "transcribe"
sys.path.insert(0, str(ROOT))

MODELS = ("tiny.en", "base")
ENGINES = {  # label -> (engine, compute_type)
    "fw-int8": ("faster-whisper", "int8"),
    "fw-f32": ("faster-whisper", "float32"),
    "ow-fp32": ("openai-whisper", None),
}

PARAGRAPHS = [
    "Good evening. Here is the news. The national assembly met this morning to discuss the new budget for "
    "roads, schools and hospitals in the northern provinces. Officials said that construction would begin in "
    "the spring and that the first schools would open next year.",
    "In the capital, thousands of people gathered in the main square to celebrate the anniversary of the "
    "founding of the republic. The ceremony included a parade, music from the army band and a speech by the "
    "minister of culture, who praised the work of farmers and factory workers.",
    "The weather service warned of heavy rain along the eastern coast. Fishing boats were told to stay in "
    "port until the storm has passed. Farmers in the river valleys are moving their animals to higher ground.",
    "A delegation of engineers returned from a visit to a steel plant abroad. They said that the new furnace "
    "would double the output of the factory and save a large amount of coal every winter.",
    "At the international meeting, the foreign minister said that the country would never give up its "
    "nuclear deterrent while foreign troops remained on the peninsula, and called for talks without "
    "preconditions.",
    "The railway ministry announced that the new line between the port and the mining district is finished. "
    "Passenger trains will run twice a day, and freight trains will carry coal and iron ore to the coast.",
    "Students from the technical university won first prize in a national competition for computer programs. "
    "Their software helps doctors in rural clinics to read medical images and to order medicine.",
    "And finally, the children's choir of the city performed a concert for retired workers at the theatre. "
    "The audience asked for three songs to be repeated. That is the end of the news. Good night.",
]
VOICES = [("en-us", 150), ("en", 140), ("en-us+m3", 160)]

NUMBERS = "zero one two three four five six seven eight nine".split()


# --------------------------------------------------------------------------- text metrics


def normalise(text: str) -> list[str]:
    text = text.lower().replace("'s", "s").replace("-", " ")
    text = re.sub(r"\d", lambda m: f" {NUMBERS[int(m.group())]} ", text)
    return re.sub(r"[^a-z ]+", " ", text).split()


def _edits(a: list, b: list) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def wer(ref: str, hyp: str) -> float:
    r, h = normalise(ref), normalise(hyp)
    return _edits(r, h) / max(1, len(r))


def cer(ref: str, hyp: str) -> float:
    r, h = "".join(normalise(ref)), "".join(normalise(hyp))
    if len(r) * len(h) > 4e7:  # quadratic: compare in aligned-ish blocks for very long texts
        n = 2000
        return sum(_edits(list(r[i : i + n]), list(h[i : i + n])) for i in range(0, len(r), n)) / max(1, len(r))
    return _edits(list(r), list(h)) / max(1, len(r))


# --------------------------------------------------------------------------- set-up


def _ffmpeg() -> str:
    from pipeline.media.probe import ffmpeg_exe

    return ffmpeg_exe()


def _to16k(src: Path, dst: Path) -> None:
    subprocess.run([_ffmpeg(), "-y", "-loglevel", "error", "-i", str(src), "-ar", "16000", "-ac", "1", str(dst)], check=True)


def _join(wavs: list[Path], dst: Path, gap: float = 0.7) -> None:
    import numpy as np

    from pipeline.media.audio import load_audio

    pad = np.zeros(int(gap * 16000), np.float32)
    audio = np.concatenate([x for w in wavs for x in (load_audio(w), pad)])
    _write_wav(audio, dst)


def _write_wav(audio, dst: Path) -> None:
    from pipeline.testing.media import write_wav

    write_wav(dst, audio)


def _espeak(text: str, voice: str, speed: int, dst: Path) -> None:
    raw = dst.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text], check=True)
    _to16k(raw, dst)
    raw.unlink()


def setup() -> dict[str, dict]:
    """Build or reuse the clips; returns name -> {path, ref, seconds, source}."""
    CACHE.mkdir(parents=True, exist_ok=True)
    index = CACHE / "clips.json"
    if index.is_file():
        clips = json.loads(index.read_text())
        if all(Path(c["path"]).is_file() for c in clips.values()):
            return clips
    clips: dict[str, dict] = {}
    parts = CACHE / "parts"
    parts.mkdir(exist_ok=True)

    # 1. English espeak, >= 40 s: the first four paragraphs, one voice.
    text = " ".join(PARAGRAPHS[:4])
    _espeak(text, "en-us", 150, CACHE / "espeak_en.wav")
    clips["espeak-en"] = {"path": str(CACHE / "espeak_en.wav"), "ref": text, "source": "espeak-ng en-us, 150 wpm"}

    # 2. Ten minutes: paragraphs in rotation with three voices and speeds, until >= 600 s.
    import numpy as np

    from pipeline.media.audio import load_audio

    audio, refs, i = [], [], 0
    total = 0.0
    while total < 600.0:
        voice, speed = VOICES[(i // len(PARAGRAPHS)) % len(VOICES)]
        p = parts / f"para{i % len(PARAGRAPHS)}_{voice.replace('+', '_')}_{speed}.wav"
        if not p.is_file():
            _espeak(PARAGRAPHS[i % len(PARAGRAPHS)], voice, speed, p)
        a = load_audio(p)
        audio += [a, np.zeros(8000, np.float32)]
        refs.append(PARAGRAPHS[i % len(PARAGRAPHS)])
        total += a.size / 16000 + 0.5
        i += 1
    full = np.concatenate(audio)[: 600 * 16000]
    # The reference keeps only the paragraphs wholly inside 600 s; WER is computed on segments ending before that.
    kept, t, ref_end = [], 0.0, 0.0
    for a, r in zip(audio[::2], refs):
        t += a.size / 16000 + 0.5
        if t <= 600.0:
            kept.append(r)
            ref_end = t
    _write_wav(full, CACHE / "espeak_10min.wav")
    clips["espeak-10min"] = {
        "path": str(CACHE / "espeak_10min.wav"),
        "ref": " ".join(kept),
        "ref_end": ref_end,
        "source": f"espeak-ng, 3 voices, 140-160 wpm (WER over the first {ref_end:.0f} s: whole paragraphs)",
    }

    # 3. Real speech from Debian packages.
    debs = CACHE / "debs"
    debs.mkdir(exist_ok=True)
    pkgs = ["pocketsphinx-testdata", "asterisk-core-sounds-en-wav", "asterisk-core-sounds-en"]
    if not list(debs.glob("*.deb")) or len(list(debs.glob("*.deb"))) < len(pkgs):
        subprocess.run(["apt-get", "download", *pkgs], cwd=debs, check=True, capture_output=True)
    root = CACHE / "debroot"
    for deb in debs.glob("*.deb"):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)

    lib = root / "usr/share/pocketsphinx/test/data/librivox"
    refs_lib, wavs = [], []
    for line in (lib / "transcription").read_text().splitlines():
        m = re.match(r"<s>(.*)</s>\s*\((.+)\)", line.strip())
        if m:
            refs_lib.append(m.group(1).strip())
            wavs.append(lib / f"{m.group(2)}.wav")
    _join(wavs, CACHE / "librivox.wav")
    clips["librivox"] = {
        "path": str(CACHE / "librivox.wav"),
        "ref": " ".join(refs_lib),
        "source": "Debian pocketsphinx-testdata: 5 LibriVox utterances (read speech)",
    }

    import gzip

    texts = {}
    with gzip.open(root / "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz", "rt", errors="replace") as fh:
        for line in fh:
            m = re.match(r"^([\w/-]+):\s*(.+)$", line.strip())
            if m and "[" not in m.group(2) and not re.search(r"\d", m.group(2)):
                texts[m.group(1)] = m.group(2).strip()
    sounds = next(p for p in sorted((root / "usr/share/asterisk/sounds").iterdir()) if p.name.startswith("en"))
    chosen = sorted((k for k in texts if (sounds / f"{k}.wav").is_file()), key=lambda k: -len(texts[k]))[:5]
    chosen.sort()
    tmp = []
    for k in chosen:
        d = parts / f"ast_{k.replace('/', '_')}.wav"
        _to16k(sounds / f"{k}.wav", d)
        tmp.append(d)
    _join(tmp, CACHE / "asterisk.wav")
    clips["asterisk-en"] = {
        "path": str(CACHE / "asterisk.wav"),
        "ref": " ".join(texts[k] for k in chosen),
        "source": "Debian asterisk-core-sounds-en(-wav): 5 telephony prompts (voice en_US_f_Allison)",
    }
    for c in clips.values():
        c["seconds"] = round(load_audio(Path(c["path"])).size / 16000, 2)
    index.write_text(json.dumps(clips, indent=1))
    return clips


# --------------------------------------------------------------------------- workers (one subprocess each)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    """CPU seconds of this process and its waited-for children (ffmpeg): less sensitive than wall time to other load."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def worker_config(model: str, label: str, clip: dict) -> dict:
    from pipeline import asr as tr

    engine, ct = ENGINES[label]
    models_dir = CACHE / "models"
    t0 = time.perf_counter()
    tr.get_transcriber(engine, model, models_dir, ct)
    load = time.perf_counter() - t0
    c0, t0 = _cpu_s(), time.perf_counter()
    t = tr.transcribe(Path(clip["path"]), model=model, engine=engine, compute_type=ct, models_dir=models_dir)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    hyp = t.text
    ref = clip["ref"]
    if "ref_end" in clip:  # compare only the part the reference covers
        hyp = " ".join(s.text for s in t.segments if not s.flags and s.start < clip["ref_end"] - 0.3)
    return {
        "load_s": load, "wall_s": wall, "cpu_s": cpu, "loadavg": os.getloadavg()[0], "rtf": clip["seconds"] / wall, "rss_mb": _peak_rss_mb(),
        "wer": wer(ref, hyp), "cer": cer(ref, hyp), "language": t.language,
        "flagged": sum(bool(s.flags) for s in t.segments), "segments": len(t.segments),
    }


def worker_stage_vs_raw(model: str, clip: dict, reps: int) -> dict:
    """Raw faster-whisper int8 call vs the pipeline's transcribe() on one clip, same model object options."""
    import faster_whisper

    from pipeline import asr as tr
    from pipeline.models import whisper as reg

    models_dir = CACHE / "models"
    path = Path(clip["path"])
    raw_model = faster_whisper.WhisperModel(
        str(reg.resolve_ct2(model, models_dir)), device="cpu", compute_type="int8", cpu_threads=os.cpu_count()
    )
    tr.get_transcriber("faster-whisper", model, models_dir, "int8")

    def raw() -> str:
        segs, _ = raw_model.transcribe(
            str(path), beam_size=5, best_of=5, temperature=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            condition_on_previous_text=False, vad_filter=True,
        )
        return " ".join(s.text.strip() for s in segs)

    def stage() -> str:
        return tr.transcribe(path, model=model, models_dir=models_dir).text

    times: dict[str, list[float]] = {"raw": [], "stage": []}
    cpus: dict[str, list[float]] = {"raw": [], "stage": []}
    texts = {}
    for _ in range(reps):
        for name, fn in (("raw", raw), ("stage", stage)):
            c0, t0 = _cpu_s(), time.perf_counter()
            texts[name] = fn()
            times[name].append(time.perf_counter() - t0)
            cpus[name].append(_cpu_s() - c0)
    return {
        "raw_s": min(times["raw"]), "stage_s": min(times["stage"]),
        "raw_cpu": min(cpus["raw"]), "stage_cpu": min(cpus["stage"]), "loadavg": os.getloadavg()[0],
        "raw_wer": wer(clip["ref"], texts["raw"]), "stage_wer": wer(clip["ref"], texts["stage"]),
        "same_text": texts["raw"].strip() == texts["stage"].strip(),
    }


def _spawn(args: list[str], timeout: float = 1800) -> dict:
    res = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-10min", action="store_true", help="leave out the 10-minute clip")
    ap.add_argument("--configs", default="", help="comma list of MODEL/LABEL, e.g. tiny.en/fw-int8")
    ap.add_argument("--clips", default="", help="comma list of clip names")
    ap.add_argument("--reps", type=int, default=2, help="repetitions for stage-vs-raw timing (min is kept)")
    ap.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    ns = ap.parse_args()

    if ns.worker:
        kind, *rest = ns.worker
        clips = json.loads((CACHE / "clips.json").read_text())
        if kind == "config":
            model, label, clip = rest
            print(json.dumps(worker_config(model, label, clips[clip])))
        else:
            model, clip, reps = rest
            print(json.dumps(worker_stage_vs_raw(model, clips[clip], int(reps))))
        return

    import ctranslate2
    import faster_whisper
    import torch
    import whisper

    clips = setup()
    names = [n for n in clips if not (ns.skip_10min and n == "espeak-10min")]
    if ns.clips:
        names = [n for n in names if n in ns.clips.split(",")]
    configs = [(m, lab) for m in MODELS for lab in ENGINES]
    if ns.configs:
        configs = [tuple(c.split("/")) for c in ns.configs.split(",")]
    print(f"# clipwatch transcription benchmark — {os.cpu_count()} CPU cores, no GPU")
    print(f"# faster-whisper {faster_whisper.__version__}, ctranslate2 {ctranslate2.__version__}, "
          f"openai-whisper {whisper.__version__}, torch {torch.__version__}")
    print("# clips:")
    for n in names:
        print(f"#   {n:13s} {clips[n]['seconds']:7.1f} s  {clips[n]['source']}")
    print("# decoding: beam 5, best_of 5, temperature fallback 0..1, condition_on_previous_text=False, Silero VAD on")
    print("# RTF = audio seconds / wall seconds (higher is faster; model load excluded); CPU s = user+sys seconds of the")
    print("# transcription (ffmpeg included); RSS = peak of a fresh process per row (model load included); load = 1-min")
    print("# load average at the end of the row (this machine is shared: with load > cores, trust CPU s over wall s)")
    print()
    print(f"{'model':8s} {'engine':8s} {'clip':13s} {'audio s':>7s} {'load s':>6s} {'wall s':>7s} {'RTF':>6s} {'CPU s':>6s} {'RSS MB':>7s} {'WER':>6s} {'CER':>6s} {'lang':>4s} {'load':>4s} flagged")
    results = {}
    for model, label in configs:
        for n in names:
            r = _spawn(["--worker", "config", model, label, n])
            results[(model, label, n)] = r
            if "error" in r:
                print(f"{model:8s} {label:8s} {n:13s} ERROR {r['error']}")
            else:
                print(f"{model:8s} {label:8s} {n:13s} {clips[n]['seconds']:7.1f} {r['load_s']:6.1f} {r['wall_s']:7.1f} {r['rtf']:6.1f} {r['cpu_s']:6.1f} "
                      f"{r['rss_mb']:7.0f} {r['wer']:6.3f} {r['cer']:6.3f} {r['language']:>4s} {r['loadavg']:4.1f} {r['flagged']}/{r['segments']}", flush=True)
    print()
    print("# speed-up of faster-whisper int8 over openai-whisper fp32 (same model, same clip; target >= 2x): wall, CPU")
    for model in MODELS:
        for n in names:
            a, b = results.get((model, "fw-int8", n)), results.get((model, "ow-fp32", n))
            if a and b and "error" not in a and "error" not in b:
                print(f"{model:8s} {n:13s} {b['wall_s'] / a['wall_s']:5.1f}x {b['cpu_s'] / a['cpu_s']:5.1f}x")
    print()
    print("# pipeline transcribe() stage vs the raw faster-whisper int8 call on the same clip (min of reps; target ratio <= 1.10)")
    print(f"{'model':8s} {'clip':13s} {'raw s':>7s} {'stage s':>7s} {'ratio':>6s} {'raw CPU':>7s} {'stg CPU':>7s} {'ratio':>6s} {'raw WER':>7s} {'stage WER':>9s} {'load':>4s} same text")
    for model in MODELS:
        for n in ("espeak-en", "librivox"):
            if n not in names:
                continue
            r = _spawn(["--worker", "stage", model, n, str(ns.reps)])
            if "error" in r:
                print(f"{model:8s} {n:13s} ERROR {r['error']}")
                continue
            print(f"{model:8s} {n:13s} {r['raw_s']:7.2f} {r['stage_s']:7.2f} {r['stage_s'] / r['raw_s']:6.2f} "
                  f"{r['raw_cpu']:7.2f} {r['stage_cpu']:7.2f} {r['stage_cpu'] / r['raw_cpu']:6.2f} "
                  f"{r['raw_wer']:7.3f} {r['stage_wer']:9.3f} {r['loadavg']:4.1f} {r['same_text']}", flush=True)


if __name__ == "__main__":
    main()
