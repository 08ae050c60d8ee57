"""Speech to timed text with Whisper (faster-whisper by default, openai-whisper as the reference engine).

Contract shared with the rest of the pipeline: ``transcribe(audio, ...) -> Transcript`` where ``audio`` is a
media file's path or its 16 kHz mono float32 samples (for example the job's memory-mapped PCM, so a video is
decoded once for every reader).

A path's audio is streamed from ffmpeg (16 kHz mono float32, :func:`pipeline.media.audio.iter_audio`)
and transcribed in windows of :data:`WINDOW_SECONDS`, so memory stays flat for a
3-hour broadcast. A window that is not the last is cut at the start of its last
segment, and the next window starts there, so no sentence is split at a window
edge. The language is detected on the first window and then kept.

Segments are never dropped for looking wrong: they are *flagged* (see
:func:`flag_segment`), and ``Transcript.text`` and the subtitle writers leave
flagged segments out. The one exception is a stretch decoded once without fallback (faster-whisper's batched
pipeline) whose text fails Whisper's thresholds: it is decoded again in clips, and the clips' segments take its
place where they give any.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.asr.base import (
    COMPRESSION_RATIO_THRESHOLD,
    LOGPROB_THRESHOLD,
    NO_SPEECH_THRESHOLD,
    TASKS,
    Progress,
    Segment,
    Transcriber,
    Transcript,
    get_transcriber,
)
from pipeline.asr.coverage import inside, missed_speech, pieces_of, too_few_words, usual_rate
from pipeline.asr.flags import flag_segment, mark_clause_loops, repeats_heard
from pipeline.asr.sentences import split_segments
from pipeline.errors import ConfigError, ModelError, NoAudioError
from pipeline.media.audio import SAMPLE_RATE, iter_audio, pcm_blocks
from pipeline.media.probe import probe

# Audio held in memory at once. Peak RSS on a 10-minute clip with tiny.en int8 (bench/transcribe.py):
# 874 MB with 600 s windows, 612 MB with 300 s, 404 MB with 120 s (faster-whisper's feature
# extraction over a whole window dominates). On bench/e2e.py's 5-minute real clip (base, word timestamps)
# 120 s against 300 s: peak RSS 424 vs 555 MB, CPU 56.1 vs 62.2 s, the same 704 words (punctuation and
# number spelling differ at a few places): the re-decoded window edges cost less than the larger features.
# Those figures are from before pipeline/asr/mel.py computed the spectrogram 10 s at a time. Silero VAD's transient
# (about 45 MB for 120 s) still grows with the window, so 120 s stays.
WINDOW_SECONDS = 120.0


def _known_language(code: str) -> bool:
    # heavy (loads CTranslate2, onnxruntime): only when this engine runs
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return code in _LANGUAGE_CODES


def _chunks(samples: np.ndarray, chunk: int):
    yield from pcm_blocks(samples, chunk)  # copies; a memory map's pages are let go after each (issue 19)


def failed_thresholds(seg: Segment) -> bool:
    """Whisper's test for decoding a stretch again at a higher temperature: its text too repetitive or too unlikely."""
    return (seg.compression_ratio or 0.0) > COMPRESSION_RATIO_THRESHOLD or (
        seg.avg_logprob is not None and seg.avg_logprob < LOGPROB_THRESHOLD)


def _overlaps(a: Segment, b: Segment) -> bool:
    return a.start < b.end and b.start < a.end


def _decode_missed(transcriber: Transcriber, win: np.ndarray, segs: list[Segment], end: float, redo_failed: bool,
                   **decode) -> list[Segment]:
    """``segs`` with the speech in ``win[:end]`` that they leave out decoded again in short clips (coverage.py).

    With ``redo_failed`` (the engine decoded once, without fallback), the stretches of segments that fail Whisper's
    thresholds count as left out too: their clips go to the engine's decoder with fallback, and a failed segment
    stays only where its clips gave nothing. So do segments holding far fewer words than their time holds
    (``coverage.too_few_words``: a line said twice, written once), each stretch of speech in them a clip of its own.
    """
    kept: list[Segment] = []
    failed: list[Segment] = []
    sparse: list[Segment] = []  # segments that left words out: decoded again piece by piece
    rate = usual_rate(segs) if redo_failed else None
    for seg in segs:
        if redo_failed and failed_thresholds(seg):
            failed.append(seg)
        elif too_few_words(seg, rate):
            sparse.append(seg)
        else:
            kept.append(seg)
    clips = sorted(missed_speech(win, kept + sparse, end) + pieces_of(win, sparse))
    failed += sparse
    found: list[Segment] = []
    if clips:
        with transcriber.lock:
            res = transcriber.run(win, vad=False, clips=clips, **decode)
            found = [seg for seg in res.segments if inside(seg, clips)]
    left = [f for f in failed if not any(_overlaps(f, seg) for seg in found)]
    return sorted(kept + found + left, key=lambda seg: seg.start)


def transcribe(
    audio: Path | str | np.ndarray,
    *,
    model: str = "base",
    engine: str = "faster-whisper",
    language: str | None = None,
    task: str = "transcribe",
    word_timestamps: bool = False,
    vad: bool = True,
    models_dir: Path | None = None,
    progress: Progress | None = None,
    compute_type: str | None = None,
    device: str = "cpu",
    fill_gaps: bool = True,
    batch_size: int | None = None,
) -> Transcript:
    """Transcribe (or translate to English) the audio of any media file, or 16 kHz mono float32 samples.

    Handed samples (an array or a memory map), nothing is decoded: a job decodes a video's audio once and
    passes the same samples to the transcription, its translation pass and the audio profile.

    ``language`` forces the spoken language (ISO code such as ``ko``); None
    detects it on the first window. ``progress(done_s, total_s)`` is called as
    segments come out. NoAudioError when the file has no audio stream; a silent
    track gives a Transcript without unflagged segments.

    With ``vad`` and ``fill_gaps``, speech that a window's segments leave out (a stretch of 2 s or more without a
    segment, where the VAD hears 1 s of speech or more) is decoded again in clips of at most 10 s cut at its
    pauses (:mod:`pipeline.asr.coverage`): Whisper drops a whole 30-s segment of repetitive speech at times.

    faster-whisper, with the VAD and word timestamps, decodes each window's speech chunks once in its batched
    pipeline (``batch_size`` at once; None: 1 on a CPU, 16 on a GPU; 0: the sequential decoder with timestamp tokens
    and fallback). Its 30-s segments are cut into sentences at their words (:mod:`pipeline.asr.sentences`), and with
    ``fill_gaps`` what fails Whisper's thresholds is decoded again in clips by the sequential decoder.
    """
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    if language is not None:
        language = language.strip().lower()
        if not _known_language(language):
            raise ConfigError(f"language {language!r} is not one Whisper knows; use an ISO 639-1 code such as en or ko")
    if isinstance(audio, np.ndarray):
        total = audio.size / SAMPLE_RATE
        stream = _chunks(audio, int(30.0 * SAMPLE_RATE))
    else:
        path = Path(audio)
        info = probe(path)  # MediaError for non-media
        if not info.has_audio:
            raise NoAudioError(f"{path.name}: has no audio track to transcribe (a video-only file); nothing to do")
        total = float(info.duration)
        stream = iter_audio(path, chunk_seconds=30.0)
    transcriber = get_transcriber(engine, model, models_dir, compute_type, device, batch_size)
    if not transcriber.multilingual:
        if language not in (None, "en"):
            raise ModelError(f"model {model!r} understands English only; use a multilingual model (base) for language {language!r}")
        if task == "translate":
            raise ModelError(f"model {model!r} is English-only and cannot translate; use a multilingual model (base)")
        language = "en"

    window = int(WINDOW_SECONDS * SAMPLE_RATE)
    buf = np.zeros(0, np.float32)
    offset_samples = 0  # absolute position of buf[0]
    n_samples = 0
    detected: str | None = language
    locked: str | None = None  # language detected on the first window with speech
    detected_prob: float | None = 1.0 if language is not None else None
    out: list[Segment] = []
    spoken: set[int] = set()  # segments of ``out`` whose repeated clauses the audio says again
    exhausted = False

    last = [0.0]

    def report(done: float, end: float | None = None) -> None:
        # Monotonic, rounded like the durations; total grows if the container under-reported it.
        if progress is not None:
            done = max(last[0], round(done, 3))
            last[0] = done
            progress(done, end if end is not None else max(total, done))

    while not exhausted or buf.size:
        while not exhausted and buf.size < window:
            chunk = next(stream, None)
            if chunk is None:
                exhausted = True
                break
            n_samples += chunk.size
            buf = np.concatenate([buf, chunk]) if buf.size else chunk
        if not buf.size:
            break
        final = exhausted and buf.size <= window
        win = buf[:window]
        offset = offset_samples / SAMPLE_RATE
        segs: list[Segment] = []
        with transcriber.lock:
            res = transcriber.run(win, language=language or locked, task=task, word_timestamps=word_timestamps, vad=vad)
            for seg in split_segments(res.segments):  # 30-s segments decoded without timestamps, as sentences
                segs.append(seg)
                report(offset + seg.end)
        if detected is None or (language is None and locked is None):
            detected, detected_prob = res.language, res.language_probability
            # Keep the detected language for later windows once a window had speech; a window of
            # music or silence says little about the language, so the next one detects again.
            if language is None and any(s.text.strip() and (s.no_speech_prob or 0) < NO_SPEECH_THRESHOLD for s in segs):
                locked = detected
        cut = win.size
        if not final and segs and segs[-1].start > 1.0:
            # Start the next window where the last (possibly cut) segment started.
            cut = min(int(segs[-1].start * SAMPLE_RATE), win.size)
            segs = segs[:-1]
        # where the engine's own VAD kept nothing (music, silence), ours would not either: same Silero model, threshold
        if vad and fill_gaps and res.speech_seconds != 0:
            segs = _decode_missed(transcriber, win, segs, cut / SAMPLE_RATE, not res.fallback,
                                  language=language or locked or detected, task=task, word_timestamps=word_timestamps)
        for seg in segs:
            a, b = int(seg.start * SAMPLE_RATE), int(seg.end * SAMPLE_RATE)
            seg.flags = flag_segment(seg, win[a:b])
            if repeats_heard(seg, win[a:b]):
                spoken.add(len(out))  # its repeats are speech: the transcript-wide loop check below leaves it be
            seg.start, seg.end = round(seg.start + offset, 3), round(seg.end + offset, 3)
            for w in seg.words:
                w.start, w.end = round(w.start + offset, 3), round(w.end + offset, 3)
            out.append(seg)
        buf = buf[cut:]
        offset_samples += cut
        report(offset_samples / SAMPLE_RATE)
        if final:
            break

    mark_clause_loops(out, spoken=spoken)  # a loop may run over several segments (each flagged above on its own)
    duration = round(n_samples / SAMPLE_RATE, 3)
    if progress is not None:
        progress(max(last[0], duration), max(last[0], duration))
    return Transcript(
        language=detected,
        language_probability=detected_prob,
        duration=duration,
        model=str(model),
        engine=transcriber.engine,
        engine_version=transcriber.version,
        task=task,
        segments=out,
    )
