"""Hit-time precision on real recorded speech with known onsets, and what word timestamps cost.

    python bench/hit_time.py [--model base] [--engine faster-whisper] [--minutes 5] [--seed 1] [--chunks N]

Probe clip: real recordings with reference texts from /work/media (built by shared/media/fetch.sh):
Asterisk English telephony prompts (``asterisk-core-sounds-en``, one US voice actor, texts from
``core-sounds-en.txt`` — many with digits: "press 1 to mute") and the five LibriVox utterances of
``pocketsphinx-testdata`` ("and mister john dashwood had then leisure…"), concatenated in random order with
real pauses (0.6–2.0 s of silence) into one clip of about ``--minutes``. Each utterance's onset is known: where
it was placed plus the first 10 ms frame of its own audio above 5 % of its loudest frame.

The clip is transcribed twice with the stage's engine (with and without word timestamps: the RTF cost; without
word timestamps faster-whisper runs its sequential decoder, with them its batched pipeline unless ``--chunks 0``), then
stored in a catalogue through ``Store.replace_transcript`` as ingest does. For each utterance the first four
words of its reference text are searched as a phrase, written as a person would type them (digits as in the
reference: "press 1 to", names spelled out: "mister john dashwood"). A phrase is *found* when a hit's line
overlaps its utterance, *on time* when the hit's time is within 1.0 s of the utterance's onset. The same is
counted for the line-start times (what search gave before word timestamps).

Prints the issue's target rows.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.domain import VideoRecord  # noqa: E402
from pipeline.search.facade import SearchQuery, search  # noqa: E402
from pipeline.storage.sqlite.catalogue import Store  # noqa: E402
from pipeline.testing.media import write_wav  # noqa: E402

SR = 16_000
# The real recordings of ../shared/media/fetch.sh (CLIPWATCH_REAL_MEDIA, else a "media" folder beside the checkout).
MEDIA = Path(os.environ.get("CLIPWATCH_REAL_MEDIA", Path(__file__).resolve().parents[2] / "media")) / "speech"


def load(path: Path) -> np.ndarray:
    from pipeline.media.probe import ffmpeg_exe

    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(SR), "-f", "f32le", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.float32).copy()


def onset(audio: np.ndarray) -> float:
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    above = np.nonzero(rms > 0.05 * rms.max())[0]
    return float(above[0] * 160 / SR) if len(above) else 0.0


def utterances() -> list[tuple[str, Path]]:
    out = []
    ref = MEDIA / "asterisk_en" / "core-sounds-en.txt"
    for line in ref.read_text(encoding="utf-8", errors="replace").splitlines():
        m = re.match(r"([\w/-]+):\s*(.+)$", line)
        if not m or line.startswith(";"):
            continue
        name, text = m.groups()
        wav = MEDIA / "asterisk_en" / f"{name}.wav"
        # "[ascending tones]", "(2 seconds of silence)": not speech
        if wav.exists() and not text.startswith(("[", "(")) and len(re.findall(r"[\w']+", text)) >= 4:
            out.append((text, wav))
    for line in (MEDIA / "librivox" / "transcription").read_text().splitlines():
        m = re.match(r"<s>\s*(.+?)\s*</s>\s*\((.+)\)", line)
        if m:
            out.append((m.group(1), MEDIA / "librivox" / f"{m.group(2)}.wav"))
    return out


def phrase_of(text: str) -> str:
    words = re.findall(r"[\w']+", text)
    return " ".join(words[:4])


def build_probe(minutes: float, seed: int) -> tuple[np.ndarray, list[dict]]:
    rng = random.Random(seed)
    cands = utterances()
    libri = [u for u in cands if "librivox" in str(u[1])]
    ast = [u for u in cands if "librivox" not in str(u[1])]
    rng.shuffle(ast)
    chosen = list(libri)
    total = 0.0
    pieces, meta = [np.zeros(SR, np.float32)], []
    pos = 1.0
    pool = ast
    for text, wav in chosen + pool:
        a = load(wav)
        dur = len(a) / SR
        if dur > 25 or (total + dur > minutes * 60 and len(meta) >= len(libri)):
            continue
        on = pos + onset(a)
        meta.append({"text": text, "file": wav.name, "onset": round(on, 3), "end": round(pos + dur, 3), "phrase": phrase_of(text)})
        pieces.append(a)
        pos += dur
        total += dur
        gap = rng.uniform(0.6, 2.0)
        pieces.append(np.zeros(int(gap * SR), np.float32))
        pos += gap
        if total >= minutes * 60:
            break
    return np.concatenate(pieces), meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="base")
    ap.add_argument("--engine", default="faster-whisper")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2, help="transcribe each way this many times (RTF: best of)")
    ap.add_argument("--chunks", type=int, help="speech chunks faster-whisper decodes at once (CLIPWATCH_WHISPER_CHUNKS; "
                    "0: the sequential decoder); with word timestamps only, as in an ingest")
    args = ap.parse_args()
    from pipeline.asr import transcribe

    audio, meta = build_probe(args.minutes, args.seed)
    with tempfile.TemporaryDirectory(prefix="clipwatch-hit-time-") as tmp_name:  # gone after, as a test's would be
        tmp = Path(tmp_name)
        clip = tmp / "probe.wav"
        write_wav(clip, audio)
        dur = len(audio) / SR
        print(f"probe: {len(meta)} real utterances, {dur:.0f} s ({clip})", file=sys.stderr)

        # warm up: load the model (and its caches) before anything is timed
        warm = tmp / "warm.wav"
        write_wav(warm, audio[: 10 * SR])
        transcribe(warm, model=args.model, engine=args.engine, word_timestamps=True, language="en", batch_size=args.chunks)
        timings: dict[bool, list[float]] = {False: [], True: []}
        results = {}
        for rep in range(args.repeats):
            for words in (False, True):
                t0 = time.perf_counter()
                tr = transcribe(clip, model=args.model, engine=args.engine, word_timestamps=words, language="en",
                                batch_size=args.chunks)
                timings[words].append(time.perf_counter() - t0)
                results[words] = tr
                print(f"  transcribed (word_timestamps={words}) in {timings[words][-1]:.1f} s", file=sys.stderr)
        tr = results[True]
        with Store(tmp / "c.db") as store:
            store.upsert_video(VideoRecord(id="probe", extractor="bench", platform_id="probe", webpage_url="https://example.org/probe",
                                           source_url="https://example.org/probe", title="probe", channel="bench"), "probe")
            store.replace_transcript("probe", "sha", "original", tr, None)
            rows = []
            for m in meta:
                res = search(store, SearchQuery(f'"{m["phrase"]}"', limit=50))
                hits = [h for h in res.hits if h.segment_start < m["end"] + 0.2 and h.end > m["onset"] - 0.2]
                best = min(hits, key=lambda h: abs(h.start - m["onset"])) if hits else None
                rows.append({**m, "found": best is not None,
                             "word_err": abs(best.start - m["onset"]) if best else None,
                             "line_err": min(abs(h.segment_start - m["onset"]) for h in hits) if hits else None,
                             "numeric": bool(re.search(r"\d|mister|doctor|saint", m["phrase"]))})
            segs = tr.segments
            words_total = sum(len(s.text.split()) for s in segs)
            words_flagged = sum(len(s.text.split()) for s in segs if s.flags)

    n = len(rows)
    found = [r for r in rows if r["found"]]
    on_time_word = sum(1 for r in found if r["word_err"] <= 1.0)
    on_time_line = sum(1 for r in found if r["line_err"] <= 1.0)
    numeric = [r for r in rows if r["numeric"]]
    rtf0 = dur / min(timings[False])
    rtf1 = dur / min(timings[True])
    print()
    print(f"hit-time benchmark — {n} real utterances (asterisk-core-sounds-en prompts + pocketsphinx-testdata LibriVox), "
          f"{dur:.0f} s probe, {args.engine} {args.model}")
    print(f"{'row':58} {'value':>12}  target")
    print(f"{'phrases found (first 4 words of each utterance)':58} {len(found):>5} / {n:<4}")
    print(f"{'phrase hits within 1.0 s of onset — word time (new)':58} {on_time_word / max(1, len(found)):>11.1%}  >= 90 %")
    print(f"{'phrase hits within 1.0 s of onset — line start (before)':58} {on_time_line / max(1, len(found)):>11.1%}")
    if found:
        print(f"{'median |hit time - onset|, word time / line start (s)':58} "
              f"{statistics.median(r['word_err'] for r in found):>5.2f} / {statistics.median(r['line_err'] for r in found):.2f}")
    print(f"{'phrases with numerals or mister/doctor: found':58} {sum(r['found'] for r in numeric):>5} / {len(numeric):<4}  all")
    print(f"{'words of real speech flagged (not trusted)':58} {words_flagged:>5} / {words_total:<5}")
    print(f"{'RTF (audio s / wall s) without word timestamps':58} {rtf0:>12.1f}")
    print(f"{'RTF with word timestamps':58} {rtf1:>12.1f}")
    print(f"{'word-timestamp cost in RTF':58} {(rtf0 - rtf1) / rtf0:>11.1%}  <= 10 %")
    missed = [r for r in rows if not r["found"]]
    late = [r for r in found if r["word_err"] > 1.0]
    for label, lst in (("missed", missed), ("off by > 1 s", late)):
        for r in lst[:8]:
            print(f"  {label}: {r['phrase']!r} ({r['file']}, onset {r['onset']:.1f} s"
                  + (f", error {r['word_err']:.1f} s" if r.get("word_err") is not None else "") + ")")
    lines = {round(s.start, 1): s.text for s in tr.segments}
    if missed:
        print("  (transcript lines near the misses:)")
        for r in missed[:5]:
            near = [t for st, t in lines.items() if r["onset"] - 1 <= st <= r["end"]]
            print(f"    {r['phrase']!r} -> {near[:2]}")


if __name__ == "__main__":
    main()
