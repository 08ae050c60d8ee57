"""Cheaper ways to run Whisper on a CPU, against the decoding clipwatch uses, on real speech with reference texts.

    python bench/decoding.py [--model base] [--set en|es|fr] [--runs N]
        [--modes sequential,batched4,batched4-timestamps,greedy,sequential-blocked,clipwatch,clipwatch-nofill,
               clipwatch-batch0]

Why: on a 2-core machine Whisper is about 70 % of an ingest's CPU, so the batch target of issue 19 (0.85x the
hand-written pipeline) needs a Whisper cheaper than the one the hand-written pipeline runs. This bench says what
each cheaper decoding costs in words.

The speech: the five LibriVox utterances of Debian's pocketsphinx-testdata and every asterisk-core-sounds-en prompt
of four words or more without digits (their texts from core-sounds-en.txt), 0.8 s apart, as one 16 kHz track
(about 15 minutes; bash ../shared/media/fetch.sh builds the media folder). Each mode runs in its own process on
faster-whisper (int8, one thread per core); WER after bench/transcribe.py's normalisation (lower case, no
punctuation, digits spelled out), with the longest stretches of reference words that a mode left out.

Modes:
- ``sequential``: faster-whisper's own decoder, as bench/e2e.py's hand-written pipeline runs it (and
  ``pipeline/asr/faster_whisper.py`` did on a CPU until round 6, session 5): beam 5, Silero VAD, no conditioning
  on previous text, word timestamps, the whole track in one call.
- ``batchedN``: faster-whisper's ``BatchedInferencePipeline``, N VAD chunks decoded together (no timestamps);
  ``batchedN-timestamps`` with timestamp tokens; ``batchedN-chunkS``: chunks of at most S seconds.
- ``greedy``: sequential with beam 1.
- ``sequential-blocked``: sequential with clipwatch's spectrogram computed 10 s at a time
  (``pipeline/asr/mel.py``): the same decoding, less memory.
- ``clipwatch``: what an ingest runs, ``pipeline.asr.windows.transcribe`` (120-s windows, word timestamps, flagged
  segments left out): faster-whisper's batched pipeline, one VAD chunk at a time without timestamp tokens, the
  segments cut into sentences at their words, with the speech a window's decoding left out (and what failed
  Whisper's thresholds) decoded again in short clips (``pipeline/asr/coverage.py``); ``clipwatch-nofill`` without
  that second pass; ``clipwatch-batchN``, N chunks at once (``CLIPWATCH_WHISPER_CHUNKS``); ``clipwatch-batch0``, the
  sequential decoder with timestamp tokens and fallback that clipwatch ran until round 6, session 5.

Sets (``--set``): ``en``, the track above, is the one the modes were compared on and coverage.py's thresholds
chosen on; ``es`` and ``fr`` are held out: every asterisk-core-sounds-es or -fr prompt of four words or more
without digits, other speakers in other languages (accents are taken off before the WER). The fallback decoding
at temperatures above 0 samples at random, so one run of a mode can lose a stretch that another keeps: ``--runs``.

Each mode's peak RSS is its own process's.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from e2e import MEDIA  # noqa: E402  (the shared media folder, found as bench/e2e.py finds it)

CACHE = ROOT / "bench" / ".cache" / "decoding"


# the speech of each set: en is the set the decodings were compared (and coverage.py's thresholds chosen) on;
# es and fr are other speakers in other languages, held out (asterisk-core-sounds-es, asterisk-core-sounds-fr)
SETS = {
    "en": "pocketsphinx-testdata LibriVox, asterisk-core-sounds-en",
    "es": "asterisk-core-sounds-es (held out)",
    "fr": "asterisk-core-sounds-fr (held out)",
}


def build_set(name: str = "en") -> tuple[Path, str, float]:
    """The speech track (float32 samples) and its reference text, built once into the cache."""
    from pipeline.media.audio import SAMPLE_RATE, load_audio

    stem = "speech" if name == "en" else f"speech-{name}"
    track, ref_file = CACHE / f"{stem}.f32", CACHE / f"{stem}.txt"
    if track.exists() and ref_file.exists():
        return track, ref_file.read_text(), track.stat().st_size / 4 / SAMPLE_RATE
    speech = MEDIA / "speech"
    if not (speech / "librivox" / "transcription").is_file():
        sys.exit(f"no real speech under {MEDIA}: run bash ../shared/media/fetch.sh {MEDIA}")
    items: list[tuple[Path, str]] = []
    if name == "en":
        for line in (speech / "librivox" / "transcription").read_text().splitlines():
            m = re.match(r"<s>(.*)</s>\s*\((.+)\)", line.strip())
            if m:
                items.append((speech / "librivox" / f"{m.group(2)}.wav", m.group(1).strip()))
    prompts = speech / f"asterisk_{name}"
    for line in sorted((prompts / f"core-sounds-{name}.txt").read_text(errors="replace").splitlines()):
        m = re.match(r"^([\w/-]+):\s*(.+)$", line.strip())
        if m and "[" not in m.group(2) and not re.search(r"\d", m.group(2)) and len(m.group(2).split()) >= 4:
            wav = prompts / f"{m.group(1)}.wav"
            if wav.is_file():
                items.append((wav, m.group(2).strip()))
    gap = np.zeros(int(0.8 * SAMPLE_RATE), np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    audio = np.concatenate([part for wav, _ in items for part in (load_audio(wav), gap)])
    audio.tofile(track)
    ref_file.write_text(" ".join(text for _, text in items))
    return track, ref_file.read_text(), audio.size / SAMPLE_RATE


def run_mode(mode: str, model_dir: str, track: str) -> dict:
    """One mode in this process: its text, wall and CPU seconds."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    audio = np.fromfile(track, np.float32)
    model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 1)
    m = re.fullmatch(r"batched(\d+)(-timestamps)?(?:-chunk(\d+))?", mode)
    t0, c0 = time.perf_counter(), time.process_time()
    if m:
        pipe = BatchedInferencePipeline(model)
        segments, _ = pipe.transcribe(audio, beam_size=5, batch_size=int(m.group(1)), word_timestamps=True,
                                      without_timestamps=not m.group(2), chunk_length=int(m.group(3) or 30))
    elif cw := re.fullmatch(r"clipwatch(?:-batch(\d+))?(-nofill)?", mode):
        from pipeline.asr import get_transcriber
        from pipeline.asr.windows import transcribe

        batch = int(cw.group(1)) if cw.group(1) else None
        get_transcriber("faster-whisper", Path(model_dir).name, Path(model_dir).parent, batch_size=batch)  # loaded first
        t0, c0 = time.perf_counter(), time.process_time()
        transcript = transcribe(audio, model=Path(model_dir).name, models_dir=Path(model_dir).parent,
                                word_timestamps=True, fill_gaps=not cw.group(2), batch_size=batch)
        return {"text": transcript.text, "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    elif mode in ("sequential", "greedy", "sequential-blocked"):
        if mode == "sequential-blocked":
            from pipeline.asr.mel import BlockedFeatureExtractor

            model.feature_extractor = BlockedFeatureExtractor(**model.feat_kwargs)
        segments, _ = model.transcribe(audio, beam_size=5 if mode == "sequential" else 1, vad_filter=True,
                                       condition_on_previous_text=False, word_timestamps=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    text = " ".join(s.text for s in segments)
    return {"text": text, "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(run_mode(sys.argv[2], sys.argv[3], sys.argv[4])))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="base")
    ap.add_argument("--modes", default="sequential,batched4,batched4-timestamps,greedy")
    ap.add_argument("--set", default="en", choices=sorted(SETS), help="the speech: en (default), es or fr")
    ap.add_argument("--runs", type=int, default=1, help="run each mode this many times (fallback decoding samples)")
    args = ap.parse_args()
    import unicodedata

    import transcribe

    def plain(text: str) -> str:  # accents off, so that es and fr words stay whole in bench/transcribe.py's WER
        return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))

    def normalise(text: str) -> list[str]:
        return transcribe.normalise(plain(text))

    def wer(ref: str, hyp: str) -> float:
        return transcribe.wer(plain(ref), plain(hyp))

    from pipeline.models.whisper import resolve_ct2

    models_dir = ROOT / "bench" / ".cache" / "e2e" / "models"  # the same model files as bench/e2e.py
    model_dir = str(resolve_ct2(args.model, models_dir))
    track, ref, seconds = build_set(args.set)
    print(f"bench/decoding.py: {seconds / 60:.1f} min of real speech ({SETS[args.set]}), "
          f"{len(normalise(ref))} reference words; model {args.model} int8, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}\n")
    print("| decoding | wall s | CPU s | peak RSS MB | WER | longest stretches of reference words left out |")
    print("|---|---:|---:|---:|---:|---|")
    for mode in [m for m in args.modes.split(",") for _ in range(args.runs)]:
        out = subprocess.run([sys.executable, __file__, "--child", mode, model_dir, str(track)], capture_output=True,
                             text=True, cwd=ROOT, check=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        want, got = normalise(ref), normalise(r["text"])
        ops = difflib.SequenceMatcher(a=want, b=got, autojunk=False).get_opcodes()
        lost = sorted((" ".join(want[i1:i2]) for tag, i1, i2, _, _ in ops if tag == "delete" and i2 - i1 >= 3),
                      key=len, reverse=True)[:2]
        print(f"| {mode} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['rss_mb']:.0f} | {wer(ref, r['text']) * 100:.2f} % | "
              f"{'; '.join(repr(x) for x in lost) or '—'} |", flush=True)
    print(f"\nload {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
