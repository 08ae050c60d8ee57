"""Text on screen driven by text change: watch every few frames cheaply, read with Tesseract only what is new.

Why not sample by time: a caption of two seconds, or a chyron that changes
every few seconds inside one long shot, falls between samples taken at
keyframes and every 5 s (issue 19: 4 of 16 held-back captions were never
read). Reading every frame is out of the question (Tesseract costs 0.1-1 s
per region). So the work is split:

1. **Watch** (new text is looked for every ``DETECT_EVERY`` x ``SAMPLE_STEP``
   seconds of video, on a copy reduced to ``DETECT_WIDTH`` pixels): a stroke map (morphological gradient, Otsu with a
   floor) closed along rows gives caption-like lines; rows of glyph-sized blobs
   in the brightest and darkest pixels add lines over a busy picture. A closed
   component too tall for a line (a line joined to the foliage beside its box)
   is closed again, more tightly, on its own strokes (``SPLIT_KERNEL``). All are
   a handful of OpenCV calls and numpy masks, no Python loop per blob. Text
   found is dated back over the last samples (``HISTORY``) to the first that
   held it, and read at once when it has held steady that long. A cheap gate
   comes first (``GATE_DENSITY``): the detector runs only when some block of
   the frame is dense with strokes that are *new and still* (unchanged over
   the last two samples, changed since that pixel was last looked at). A
   moving picture without text, or a still one already looked at, spares it;
   everything is looked at again every ``RELOOK_EVERY`` samples.
2. **Track**: a region found is followed by its strokes, not by detecting it
   again: each sample (every ``SAMPLE_STEP``) checks what share of the region's reference stroke
   pixels are still there (``KEEP``). Text that stays keeps its strokes while
   the picture moves under it; text that goes, or is replaced by other text,
   loses them. A frame identical to the one before costs one difference.
3. **Read** a region once it has stayed ``READ_AFTER`` samples (a fade-in is
   over), cropped from the full-resolution frame, widened while its row of
   glyphs runs into the crop's side. Before Tesseract, a Tesseract-free check
   (``glyph_rows``): a row of glyph-sized blobs of one polarity with thin,
   even strokes (distance transform) covering the row; foliage, water and
   windows fail it and cost no call. The row is then binarised by its own
   polarity and threshold (the glyph fill: an outline or a drop shadow is the
   other polarity and drops out), only its glyphs kept, enlarged to
   ``READ_HEIGHT`` px, and read as one line (psm 7); the next polarity is
   tried only when the reading is unsure, and an identical image is not read
   twice (``read_row``). A reading with unsure words is read once more a
   second later (the picture under it has changed).
4. **Time**: a reading lasts from the first to the last sample its strokes are
   on screen, each bound at the midpoint to the neighbouring sample, so its
   error is half a sample step.

Decoding is PyAV's, skipping the frames nothing refers to and the deblocking
filter (``skip_frame``/``skip_loop_filter``): a third of decoding's cost,
and neither matters for finding or reading burned-in text. One decoding
thread, and OpenCV single-threaded while watching (``_opencv_threads``): the
stage runs beside Whisper on the cores it leaves, where more threads only add
CPU (measured in the commit that made it so).
"""

from __future__ import annotations

import difflib
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from pipeline.errors import MediaError
from pipeline.shots.ocr import (
    CLEAR_READING,
    ScreenReader,
    ScreenSegment,
    ScreenText,
    TextLine,
    comparable_text,
    screen_language,
)

#: seconds of video between two watched frames; a reading's start and end are within half of it
SAMPLE_STEP = 0.2
#: watched frames are reduced to this width (text 20 px high at 720p stays 10 px: enough to find, not to read)
DETECT_WIDTH = 640
#: gradient below this is not a stroke (Otsu on a flat picture would otherwise mark compression noise)
MIN_STROKE = 40
#: a region is still on screen while this share of its ink is there (its letters' edge pixels within
#: ``INK_TOLERANCE`` grey levels; ink is where the region's gradient exceeds ``INK_CONTRAST``)
KEEP = 0.6
INK_TOLERANCE = 28
INK_CONTRAST = 40
#: ... and is over after this many samples in a row without them (one bad frame does not cut a caption)
MISSES = 2
#: a region is read once its strokes have held this steady (``STEADY`` of them kept) for this many samples in a
#: row: past a fade-in, and not the moving picture's texture, which never holds still that long
READ_AFTER = 2
STEADY = 0.8
#: a texture read as nothing is not read again while it stays (it is remembered this many seconds after it goes)
FORGET_AFTER = 3.0
#: a reading with unsure words is read again this many samples later
REREAD_AFTER = 5
#: new text is looked for every this many samples (what is on screen is followed at every one)
DETECT_EVERY = 2
#: new text is looked for only in rows where ``GATE_DENSITY`` of a ``GATE_BLOCK`` (w, h) of pixels are strokes
#: *new and still*: within ``STILL`` grey levels over the last two samples (text holds still; a moving
#: picture's texture rarely does, twice) and more than ``STILL`` away from what the pixel held when it was last
#: looked at (a still picture, or text already found, is not looked at again until it changes)
STILL = 16
GATE_DENSITY = 0.25
GATE_BLOCK = (48, 6)
#: ... and everywhere again every this many samples (a line missed once, over a busy picture, gets another look)
RELOOK_EVERY = 10
#: samples kept to date a line found back to its first sample (and count how long it has held still)
HISTORY = DETECT_EVERY + 3
#: threads decoding the video (PyAV); OpenCV runs single-threaded during the watch (``_opencv_threads``)
DECODE_THREADS = 1
#: frames smaller or more elongated than this hold no readable caption
MIN_SIDE = 32
#: a line of text is at least this many times as wide as it is high ("LIVE", "속보" pass), and this high when
#: watched (6 px at 640 wide: text 12 px high at 720p)
MIN_ASPECT = 2.5
MIN_LINE_HEIGHT = 6
#: the row closing's width when a component too tall for a line is looked at again on its own strokes
SPLIT_KERNEL = 5
#: a crop is read only when it holds a row of glyphs (``glyph_rows``): this many glyphs of full height, each
#: this many px high at least, strokes thinner than this share of the height, of even width (coefficient of
#: variation under this), covering this share of the row, the row this many glyph heights long
MIN_GLYPHS = 5
MIN_GLYPH_PX = 8
MAX_STROKE_SHARE = 0.45
MAX_STROKE_CV = 0.5
MIN_COVER = 0.35
MIN_SPAN = 5.0
#: glyphs are enlarged to this height before Tesseract reads them (at most this many times)
READ_HEIGHT = 40.0
MAX_UPSCALE = 4.0
#: a row of glyphs that runs into its box's side widens it this many glyph heights, this many times at most
GROW_BY = 4.0
GROW_STEPS = 4
#: polarities tried per read (the next only when the first read is unsure)
READ_TRIES = 3
MAX_ASPECT = 8.0
MAX_PIXELS = 8192 * 4320
#: two readings of one line are merged when this close in time (seconds) and this similar (difflib ratio)
JOIN_GAP = 0.5
SAME_TEXT = 0.8


class FrameSizeError(MediaError):
    """The video's frames are a size no caption can be read from (a 1x10000 strip, a gigapixel frame)."""


class NoPicture(MediaError):
    """The file has no video stream (audio only): there is no text on screen to read."""


@dataclass
class _Track:
    box: tuple[int, int, int, int]  # x, y, w, h in the watched (reduced) frame
    img: np.ndarray  # the region's grey pixels (int16, watched size) when found
    first: float
    before: float  # the sample before the first: the reading starts midway
    last: float
    seen: int = 1
    steady: int = 0
    misses: int = 0
    after: float | None = None  # the first sample without it: the reading ends midway
    reads: int = 0
    lines: list[TextLine] = field(default_factory=list)
    score: float = 0.0
    ink: np.ndarray | None = None  # its ink: pixels far from the region's median grey that held still
    before_small: np.ndarray | None = None  # the sample before it was found (what the text covered)
    read_box: tuple[int, int, int, int] | None = None  # the whole line it was read from (watched frame's pixels)


def _kept(tr: _Track, small: np.ndarray) -> float:
    """Share of the region's ink still there (within ``INK_TOLERANCE`` grey levels). On the region's second
    sample its ink is settled: the pixels on strong edges (gradient over ``INK_CONTRAST``: the letters' strokes
    and outlines; a box's flat inside is none) that held still and, when the sample before the region was found
    is known, that came with it; a moving picture's edges do not hold still, so they drop out of the comparison."""
    cur = _crop(small, tr.box).astype(np.int16)
    if cur.shape != tr.img.shape:
        return 0.0
    same = np.abs(cur - tr.img) <= INK_TOLERANCE
    if tr.ink is None:
        img8 = tr.img.astype(np.uint8)
        cand = cv2.morphologyEx(img8, cv2.MORPH_GRADIENT, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))) > INK_CONTRAST
        n = int(cand.sum())
        if n < 10:
            return 0.0
        kept = float((cand & same).sum()) / n
        if kept >= KEEP:
            tr.ink = cand & same
            before = None if tr.before_small is None else _crop(tr.before_small, tr.box).astype(np.int16)
            if before is not None and before.shape == tr.img.shape:
                # only what appeared with the text: the still picture around it is no part of its ink
                came = tr.ink & (np.abs(tr.img - before) > INK_TOLERANCE)
                if int(came.sum()) >= 10:
                    tr.ink = came
        return kept
    return float((tr.ink & same).sum()) / max(1, int(tr.ink.sum()))


def _held_for(small: np.ndarray, older: list[np.ndarray], box: tuple[int, int, int, int]) -> tuple[int, int]:
    """How many of the samples before ``small`` (``older``, most recent first) already held the text found in
    ``box``, counted back until one did not: (held, steady). The text's ink is its strong edges that differ from
    the oldest sample (what it covered); held counts samples with ``KEEP`` of that ink, steady those with
    ``STEADY`` of it (only while every later one was steady too). Ink that is in the oldest sample as well
    cannot be dated: it held for all of them but the oldest."""
    if not older:
        return 0, 0
    cur = _crop(small, box).astype(np.int16)
    grad = cv2.morphologyEx(cur.astype(np.uint8), cv2.MORPH_GRADIENT, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    oldest = _crop(older[-1], box).astype(np.int16)
    if oldest.shape != cur.shape:
        return 0, 0
    came = (grad > INK_CONTRAST) & (np.abs(cur - oldest) > INK_TOLERANCE)
    n = int(came.sum())
    if n < 10:
        return len(older) - 1, len(older) - 1
    held = steady = 0
    for f in older[:-1]:
        kept = float((came & (np.abs(cur - _crop(f, box).astype(np.int16)) <= INK_TOLERANCE)).sum()) / n
        if kept < KEEP:
            break
        held += 1
        if kept >= STEADY and steady == held - 1:
            steady += 1
    return held, steady


def _frames(path: Path, step: float) -> Iterator[tuple[float, np.ndarray]]:
    """(time, grey frame at full resolution) about every ``step`` seconds; FrameSizeError/NoPicture up front."""
    import av  # decoding; imported here so that importing the module stays light for the CLI

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"{Path(path).name}: cannot open the video to read its text ({exc})") from None
    try:
        if not container.streams.video:
            raise NoPicture(f"{Path(path).name}: no video stream, so no text on screen")
        stream = container.streams.video[0]
        w, h = stream.codec_context.width, stream.codec_context.height
        if w and h and (min(w, h) < MIN_SIDE or max(w, h) / min(w, h) > MAX_ASPECT or w * h > MAX_PIXELS):
            raise FrameSizeError(f"frames of {w}x{h} pixels hold no readable captions (text on screen is read from "
                                 f"frames at least {MIN_SIDE} px a side, at most {MAX_ASPECT:g}:1 and 8K)")
        # one decoding thread: this runs beside Whisper on the cores it leaves, where more threads only contend
        # (measured: the same frames for 15 % less CPU than FFmpeg's frame threads)
        stream.thread_type = "NONE" if DECODE_THREADS == 1 else "AUTO"
        stream.thread_count = DECODE_THREADS
        cc = stream.codec_context
        cc.skip_frame = "NONREF"
        try:
            cc.options = {**cc.options, "skip_loop_filter": "all"}
        except (AttributeError, ValueError):  # a codec without the option decodes in full
            pass
        next_t = -1.0
        n = 0
        rate = float(stream.average_rate or 25)
        try:
            for frame in container.decode(stream):
                n += 1
                t = float(frame.time) if frame.time is not None else n / rate
                if t < next_t:
                    continue
                next_t = t + step * 0.95  # frames are not evenly spaced once the unreferenced ones are skipped
                if min(frame.width, frame.height) < MIN_SIDE or max(frame.width, frame.height) / min(frame.width, frame.height) > MAX_ASPECT:
                    raise FrameSizeError(f"frames of {frame.width}x{frame.height} pixels hold no readable captions")
                fmt = frame.format.name
                if (fmt.startswith(("yuv", "nv")) or fmt == "gray") and "p1" not in fmt and "le" not in fmt:
                    plane = frame.planes[0]  # the luma plane is the grey picture: no conversion
                    gray: np.ndarray = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)[:, :frame.width].copy()
                else:
                    gray = np.asarray(frame.to_ndarray(format="gray"), np.uint8)
                yield t, gray
        except av.FFmpegError:  # a damaged tail: the text read so far stands
            return
    finally:
        container.close()


def _components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """``cv2.connectedComponentsWithStats`` (8-connected, int32 labels) by Grana's block-based algorithm: the
    same labels and stats as the default, in less than half its time with stats (measured on 640x360 masks of
    real footage: 0.75 ms against 1.7 ms), and this is the watcher's most frequent call."""
    return cv2.connectedComponentsWithStatsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_GRANA)


def _strokes(small: np.ndarray) -> np.ndarray:
    """Stroke map (uint8 0/255): morphological gradient above Otsu's threshold and ``MIN_STROKE``."""
    grad = cv2.morphologyEx(small, cv2.MORPH_GRADIENT, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    t, _ = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    _, bw = cv2.threshold(grad, max(float(t), MIN_STROKE) - 1, 255, cv2.THRESH_BINARY)
    return bw


def _line_boxes(mask: np.ndarray, h_img: int, min_h: int, kernel_w: int, min_fill: float,
                glyphs: np.ndarray | None = None) -> list[tuple[int, int, int, int]]:
    """Boxes of ``mask`` closed along rows that are shaped like a line of text; with ``glyphs`` (the blobs'
    centres, an N x 2 array), only lines holding at least three of them."""
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (kernel_w, 1)))
    n, lab, stats, _ = _components(closed)
    if n <= 1:
        return []
    w, h, area = stats[:, 2], stats[:, 3], stats[:, 4]
    ok = (h >= min_h) & (h <= h_img * 0.22) & (w >= MIN_ASPECT * h) & (area >= min_fill * w * h)
    ok[0] = False
    if glyphs is not None:
        count = np.bincount(lab[glyphs[:, 1], glyphs[:, 0]], minlength=n)
        ok &= count >= 3
    boxes = [(int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in stats[ok, :4]]
    if glyphs is None and kernel_w >= 2 * SPLIT_KERNEL:
        # A line joined to the texture beside it (a chyron's strokes closed into the foliage next to its box) makes
        # one component too tall for a line, and is lost whole: such components are closed again, more tightly, on
        # their own strokes; the words found are joined into lines by ``_join_rows``.
        tall = (h > h_img * 0.22) & (w >= MIN_ASPECT * min_h)
        tall[0] = False
        if tall.any():  # one more pass over the strokes of all of them (a lookup per label, as in _glyph_rows)
            own = np.take(np.where(tall, 255, 0).astype(np.uint8), lab) & mask
            boxes += _line_boxes(own, h_img, min_h, SPLIT_KERNEL, min_fill)
    return boxes


def _glyph_rows(gray: np.ndarray, min_h: int, h_img: int) -> list[tuple[int, int, int, int]]:
    """Rows of glyph-sized blobs in the brightest and darkest pixels (captions are pure white, yellow or black):
    blobs of glyph size and shape are kept (vectorised), then closed along rows like the strokes."""
    out: list[tuple[int, int, int, int]] = []
    for mask in (gray >= 190, gray <= 50):
        m = mask.astype(np.uint8)
        n, lab, stats, cent = _components(m)
        if n <= 3:
            continue
        w, h, area = stats[:, 2], stats[:, 3], stats[:, 4]
        keep = (h >= max(3, min_h // 2)) & (h <= h_img * 0.12) & (w <= 3 * h + 4) & (area >= 0.08 * w * h) & (area <= 0.95 * w * h)
        keep[0] = False
        if keep.sum() < 3:
            continue
        glyphs = np.take(np.where(keep, 255, 0).astype(np.uint8), lab)  # a lookup per label: 6x a mask per pixel
        gap = max(5, int(np.median(h[keep])) + 1)  # letters of a line are closer than one glyph height
        centres = np.clip(cent[keep].round().astype(int), 0, [gray.shape[1] - 1, gray.shape[0] - 1])
        out += _line_boxes(glyphs, h_img, min_h, gap, 0.2, centres)
    return out


def detect(small: np.ndarray, strokes: np.ndarray, h_img: int = 0) -> list[tuple[int, int, int, int]]:
    """Caption-like line boxes (x, y, w, h) in a reduced grey frame.

    Arguments:
        small: the grey frame at watching size.
        strokes: its stroke map (``_strokes``).
        h_img: the whole frame's height when ``small`` is a band of it (line heights are limited relative to it).

    Returns:
        Boxes in the reduced frame's pixels, possibly overlapping (the tracker folds them together).
    """
    band_h, w_img = small.shape
    h_img = h_img or band_h
    min_h = MIN_LINE_HEIGHT
    boxes = _line_boxes(strokes, h_img, min_h, max(7, w_img // 60), 0.15)
    boxes += _glyph_rows(small, min_h, h_img)
    return _join_rows(boxes)


def _join_rows(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Boxes on one row (their heights mostly shared) less than a line height apart are one line: the words of
    a caption found one by one are read together."""
    out: list[list[int]] = []
    for x, y, w, h in sorted(boxes):
        for o in out:
            oy0, oy1 = max(y, o[1]), min(y + h, o[1] + o[3])
            if oy1 - oy0 >= 0.6 * min(h, o[3]) and x - (o[0] + o[2]) <= 1.2 * max(h, o[3]) and x + w >= o[0]:
                x1, y1 = max(x + w, o[0] + o[2]), max(y + h, o[1] + o[3])
                o[0], o[1] = min(x, o[0]), min(y, o[1])
                o[2], o[3] = x1 - o[0], y1 - o[1]
                break
        else:
            out.append([x, y, w, h])
    return [(a, b, c, d) for a, b, c, d in out]


@dataclass
class GlyphRow:
    """One row of glyphs found in a crop, in one polarity: what is read, and how to binarise it."""

    keep: np.ndarray  # uint8 0/1, crop-sized: the row's glyphs and their small parts (dots, bars, commas)
    height: float  # the glyphs' height (75th percentile), crop pixels
    count: int  # glyphs of full height in the row
    bright: bool  # glyphs lighter than their surround
    threshold: float  # grey level between glyph and surround
    x0: int = 0  # the row's left and right ends (crop pixels)
    x1: int = 0

    def ink(self, grey: np.ndarray) -> np.ndarray:
        """Glyph pixels of ``grey`` (a crop, possibly enlarged) by this row's polarity and threshold."""
        return grey > self.threshold if self.bright else grey <= self.threshold


def glyph_rows(crop: np.ndarray, min_glyphs: int = MIN_GLYPHS, min_span: float = MIN_SPAN) -> list[GlyphRow]:
    """Rows of glyphs in a full-resolution grey crop, the most glyph-like first (a Tesseract-free text check).

    Why each test: a line of text is a row of at least ``MIN_GLYPHS`` blobs of one polarity (Otsu either way
    round, or the pure white/black of burned-in captions), each glyph-sized (``MIN_GLYPH_PX`` high at least, not
    much wider than high, neither a filled square nor a hairline), drawn with strokes thin for their height
    (twice the distance-transform peak under ``MAX_STROKE_SHARE`` of the height: foliage highlights, waves and
    windows are blobs, filled), of one stroke width (coefficient of variation under ``MAX_STROKE_CV``: one
    font), centres on one row, and covering the row closely (``MIN_COVER``) over ``MIN_SPAN`` glyph heights.
    Texture that held still long enough to be read fails one of these, and costs no Tesseract call.

    Arguments:
        crop: grey crop of a region, with a margin.
        min_glyphs: glyphs of full height a row needs (fewer for a fragment of a line).
        min_span: glyph heights a row spans at least.

    Returns:
        Candidate rows, best first (more glyphs, then more even strokes); empty when the crop holds no text.
    """
    hh, ww = crop.shape[:2]
    if hh < 8 or ww < 16:
        return []
    t_otsu, _ = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    found: list[tuple[float, GlyphRow]] = []
    for bright, thr in ((True, float(t_otsu)), (False, float(t_otsu)), (True, 189.0), (False, 50.0), (True, 229.0)):
        m = (crop > thr if bright else crop <= thr).astype(np.uint8)
        n, lab, st, cent = _components(m)
        if n <= min_glyphs:
            continue
        x, y, w, h, a = st[1:, 0], st[1:, 1], st[1:, 2], st[1:, 3], st[1:, 4]
        inside = (x > 0) & (y > 0) & (x + w < ww) & (y + h < hh)
        ok = inside & (h >= MIN_GLYPH_PX) & (h <= 0.9 * hh) & (w <= 2.5 * h + 3) & (a >= 0.1 * w * h) & (a <= 0.85 * w * h)
        idx = np.nonzero(ok)[0]
        if len(idx) < min_glyphs:
            continue
        dt = cv2.distanceTransform(m, cv2.DIST_L2, 3)
        sw = np.zeros(n, np.float32)
        np.maximum.at(sw, lab.ravel().astype(np.intp), dt.ravel())
        sw = sw[1:]
        idx = idx[2 * sw[idx] < MAX_STROKE_SHARE * h[idx]]
        if len(idx) < min_glyphs:
            continue
        cy = cent[1:, 1][idx]
        big = float(np.percentile(h[idx], 75))
        row = idx[np.abs(cy - np.median(cy)) <= 0.35 * big]
        if len(row) < min_glyphs:
            continue
        big = float(np.percentile(h[row], 75))
        tall = row[h[row] >= 0.5 * big]
        if len(tall) < min_glyphs:
            continue
        cv = float(np.std(sw[tall]) / max(float(np.mean(sw[tall])), 1e-6))
        x0, x1 = int(x[tall].min()), int((x[tall] + w[tall]).max())
        cover = float(w[tall].sum()) / max(1, x1 - x0)
        if cv > MAX_STROKE_CV or cover < MIN_COVER or (x1 - x0) < min_span * big:
            continue
        top, bot = float(y[tall].min()), float((y[tall] + h[tall]).max())
        # the row's small parts too (Hangul's flat vowels, i's dot, commas): inside the row's band, not at the edge
        # (a Hangul vowel's bar, an l, is taller than the typical glyph, which is often a syllable's part)
        part = inside & (y >= top - 0.5 * big) & (y + h <= bot + 0.5 * big) & (x >= x0 - big) & (x + w <= x1 + big) & \
            (h <= 1.8 * big) & (w <= 4 * big)
        keep = np.take(np.concatenate([[0], part]).astype(np.uint8), lab)
        found.append((len(tall) - 10 * cv, GlyphRow(keep, big, len(tall), bright, thr, x0, x1)))
    found.sort(key=lambda f: -f[0])
    return [g for _, g in found]


def looks_like_text(crop: np.ndarray) -> bool:
    """Whether a full-resolution crop holds a row of glyphs (``glyph_rows``): worth a Tesseract call.

    Arguments:
        crop: grey crop of a region, with a margin.

    Returns:
        True when the crop is worth reading.
    """
    return bool(glyph_rows(crop))


def read_row(reader: ScreenReader, crop: np.ndarray, row: GlyphRow, x0: int, y0: int,
             cache: dict[bytes, list[TextLine]] | None = None) -> list[TextLine]:
    """Read one row of glyphs as one line: enlarged so its glyphs are ``READ_HEIGHT`` px high (cubic, before
    binarising: smooth edges), binarised by the row's own polarity and threshold (the glyph fill: an outline
    or shadow is the other polarity and drops out, as does the picture around), only the row's glyphs kept,
    black on white with a margin, read as a single line (psm 7).

    Arguments:
        reader: the ScreenReader.
        crop: the grey crop the row was found in (full resolution).
        row: the row (``glyph_rows``).
        x0, y0: the crop's top-left corner in the frame.
        cache: readings by image digest (an unchanged crop is not read twice).

    Returns:
        The line read, boxes in frame pixels (empty when nothing confident).
    """
    import hashlib  # only when reading

    s = min(MAX_UPSCALE, max(1.0, READ_HEIGHT / max(row.height, 1.0)))
    big = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC) if s > 1.0 else crop
    keep = cv2.resize(row.keep, (big.shape[1], big.shape[0]), interpolation=cv2.INTER_NEAREST) if s > 1.0 else row.keep
    k = int(np.ceil(s)) + 1
    keep = cv2.dilate(keep, np.ones((k, k), np.uint8))
    img: np.ndarray = np.where(row.ink(big) & (keep > 0), 0, 255).astype(np.uint8)
    margin = int(READ_HEIGHT // 2)
    img = cv2.copyMakeBorder(img, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)
    key = hashlib.blake2b(img.tobytes(), digest_size=16).digest() + bytes(str(img.shape), "ascii")
    if cache is not None and key in cache:
        return cache[key]
    lines = reader.read_line(img, int(round(x0 - margin / s)), int(round(y0 - margin / s)), s)
    if cache is not None:
        cache[key] = lines
    return lines


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / max(1, min(a[2] * a[3], b[2] * b[3]))


def _whole_line(gray: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The box widened to the whole line it is part of: the line detector (``detect``) at full resolution, run on
    the band of rows around it; the lines there that share its rows and touch it (or each other, within
    two line heights) join it. A caption first found a few words at a time is read whole."""
    x, y, w, h = box
    H, W = gray.shape[:2]
    y0, y1 = max(0, y - h), min(H, y + 2 * h)  # room for a box drawn around the text
    band = gray[y0:y1]
    found = [(bx, by + y0, bw, bh) for bx, by, bw, bh in detect(band, _strokes(band), H)]
    x0, x1, top, bot = x, x + w, y, y + h
    for bx, by, bw, bh in sorted(found, key=lambda b: abs(b[0] + b[2] / 2 - (x + w / 2))):
        rows = min(bot, by + bh) - max(top, by)
        if rows < 0.5 * min(bh, bot - top) or bh > 2.5 * h:
            continue
        if bx <= x1 + 2 * h and bx + bw >= x0 - 2 * h:
            x0, x1 = min(x0, bx), max(x1, bx + bw)
            top, bot = min(top, by), max(bot, by + bh)
    return (x0, top, x1 - x0, bot - top)


def _grow_to_row(gray: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The box widened while its row of glyphs runs into its left or right side (``GROW_STEPS`` times at most,
    ``GROW_BY`` glyph heights a time): a line the detector found in part is read whole."""
    H, W = gray.shape[:2]
    x, y, w, h = box
    for _ in range(GROW_STEPS):
        pad = max(4, h // 4)
        cx0, cx1 = max(0, x - pad), min(W, x + w + pad)
        rows = glyph_rows(gray[max(0, y - pad):y + h + pad, cx0:cx1], 3, 2.0)
        if not rows:
            break
        # any polarity's row: the best one may be a line's outline or its box, the fill still runs on
        left = cx0 > 0 and any(r.x0 < 3 * r.height for r in rows)
        right = cx1 < W and any(r.x1 > (cx1 - cx0) - 3 * r.height for r in rows)
        if not (left or right):
            break
        step = int(GROW_BY * max(r.height for r in rows))
        x0, x1 = (max(0, x - step) if left else x), (min(W, x + w + step) if right else x + w)
        x, w = x0, x1 - x0
    return (x, y, w, h)


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / max(1, a[2] * a[3] + b[2] * b[3] - inter)


def _crop(a: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    return a[y:y + h, x:x + w]


def _score(lines: list[TextLine]) -> float:
    return sum(l.confidence * len(comparable_text(l.text)) for l in lines)


class TextWatcher:
    """Follows the regions of text through a video's frames and reads each new one once (or twice when unsure).

    Feed frames in time order with ``add``; ``finish`` returns the timed readings. One per video; uses the
    given ScreenReader from the calling thread only.
    """

    def __init__(self, reader: ScreenReader) -> None:
        self.reader = reader
        self.tracks: list[_Track] = []
        self.done: list[_Track] = []
        self.textures: list[_Track] = []  # regions read as nothing, lately gone
        self.frames = 0
        self.prev_small: np.ndarray | None = None
        self.prev_t = 0.0
        self.scale = 1.0
        self._small: np.ndarray | None = None
        self.history: list[tuple[float, np.ndarray]] = []  # the last HISTORY samples (time, watched frame), newest last
        self.looked: np.ndarray | None = None  # each pixel as it was when last looked at for new text while still
        self.fresh: np.ndarray | None = None  # pixels to look at whatever they held (where text went, or time to)
        self._relook = 0
        # a change not yet looked at while still: the frames after it are watched in full even when identical
        # (a caption that appears in a still shot is followed by identical frames, and must still be looked at)
        self._unseen = False
        self._same = 0  # identical samples in a row
        self._settled = False  # the last sample the gate saw was still everywhere (over the last two samples)
        self.detections = 0  # samples the line detector ran on (what watching costs)
        self.gated = 0  # samples new text was due to be looked for and the gate found nothing new and still
        self._since_detect = 0
        self.prev_prev_t = 0.0
        self.cache: dict[bytes, list[TextLine]] = {}  # readings by binarised line image: one read per image

    def add(self, t: float, gray: np.ndarray) -> None:
        """Watch one full-resolution grey frame at time ``t`` (seconds)."""
        self.frames += 1
        h, w = gray.shape
        self.scale = min(1.0, DETECT_WIDTH / w)
        small = gray if self.scale == 1.0 else cv2.resize(gray, (max(1, round(w * self.scale)), max(1, round(h * self.scale))),
                                                           interpolation=cv2.INTER_AREA)
        if self.prev_small is not None and self.prev_small.shape == small.shape and \
                cv2.absdiff(small, self.prev_small).mean() < 0.5:
            for tr in self.tracks:  # the same picture: what was there is still there
                if tr.misses == 0:
                    tr.last = t
                    tr.seen += 1
                    tr.steady += 1
            self._small = small
            self._same += 1
            if self._unseen and self._same >= DETECT_EVERY:
                # the picture stopped after a change not yet looked at while still (a caption that appeared in a
                # still shot, the frames after it identical): new text is looked for all the same, once
                self._look(t, small, [tr for tr in self.tracks if tr.misses == 0])
            self._read_due(t, gray)
            self.prev_prev_t, self.prev_t = self.prev_t, t
            self._remember(t, small)
            return
        self._small = small
        self._same = 0
        present: list[_Track] = []
        for tr in self.tracks:
            kept = _kept(tr, small)
            if kept >= KEEP:
                tr.last, tr.seen, tr.misses, tr.after = t, tr.seen + 1, 0, None
                tr.steady = tr.steady + 1 if kept >= STEADY else 0
                present.append(tr)
            else:
                tr.misses += 1
                if tr.after is None:
                    tr.after = t
        ended = [tr for tr in self.tracks if tr.misses >= MISSES]
        self.tracks = [tr for tr in self.tracks if tr.misses < MISSES]
        self._end(ended)
        self._since_detect += 1
        if self._since_detect < DETECT_EVERY and self.frames > 1:
            # tracking only: what is on screen is followed every sample, new text is looked for every
            # DETECT_EVERY samples (and dated back to the sample between when it was already there)
            self._read_due(t, gray)
            self.prev_prev_t, self.prev_small, self.prev_t = self.prev_t, small, t
            self._remember(t, small)
            self._unseen = True
            return
        self._look(t, small, present)
        self._read_due(t, gray)
        self.prev_prev_t, self.prev_small, self.prev_t = self.prev_t, small, t
        self._remember(t, small)

    def _look(self, t: float, small: np.ndarray, present: list[_Track]) -> None:
        """Look for new text in this sample (when the gate lets the line detector run) and follow what is found."""
        self._since_detect = 0
        strokes = _strokes(small)
        found: list[tuple[int, int, int, int]] = []
        if self._anything_new(small, strokes):
            self.detections += 1
            found = detect(small, strokes)
            self._unseen = False
        else:
            self.gated += 1
            self._unseen = not self._settled
        older = [f for _, f in reversed(self.history)]
        for box in sorted(found, key=lambda b: -b[2] * b[3]):
            grown = None
            for tr in present:
                if _overlap(box, tr.box) > 0.5:
                    grown = tr
                    break
            if grown is not None and grown.reads and not grown.lines and _iou(box, grown.box) < 0.7:
                # a still texture read as nothing, and now a different line over it: the texture gives way
                self.tracks.remove(grown)
                present.remove(grown)
                self.textures.append(grown)
                grown = None
            if grown is not None and grown.lines and grown.read_box is not None and \
                    _overlap(box, grown.read_box) > 0.9:
                continue  # the line it was read from (a box around the text, say): nothing new to read
            if grown is not None:
                x0, x1 = min(box[0], grown.box[0]), max(box[0] + box[2], grown.box[0] + grown.box[2])
                if (x1 - x0) > 1.25 * grown.box[2] and abs(box[1] - grown.box[1]) <= 0.5 * box[3]:
                    # more of the same line (a caption that slid or typed in): follow and read the whole of it
                    y0, y1 = min(box[1], grown.box[1]), max(box[1] + box[3], grown.box[1] + grown.box[3])
                    grown.box = (x0, y0, x1 - x0, y1 - y0)
                    grown.img, grown.ink = _crop(small, grown.box).astype(np.int16), None
                    grown.before_small = self.prev_small
                    if not grown.lines:  # it was no text (or not yet known to be): the text starts now
                        grown.first, grown.before = t, self.prev_t
                    grown.seen, grown.steady = 1, 0  # read it again once it has stayed
                    grown.reads, grown.lines, grown.score = 0, [], 0.0
                continue
            if int((_crop(strokes, box) > 0).sum()) < 10:
                continue
            tr = _Track(box, _crop(small, box).astype(np.int16), t, self.prev_t if self.frames > 1 else t, t)
            tr.before_small = self.prev_small
            held, steady = _held_for(small, older, box)
            if held:  # on screen before it was found: dated back to its first sample, read once steady long enough
                tr.first = self.history[-held][0]
                tr.before = self.history[-held - 1][0] if held < len(self.history) else tr.first
                tr.before_small = self.history[-held - 1][1] if held < len(self.history) else None
                tr.seen += held
                tr.steady = steady
            for old in self.textures:
                if _iou(box, old.box) > 0.7 and old.ink is not None and _kept(old, small) >= KEEP:
                    tr.reads = 2  # the same texture back after a flicker: it was read as nothing
                    break
            self.tracks.append(tr)
            present.append(tr)

    def _remember(self, t: float, small: np.ndarray) -> None:
        self.history.append((t, small))
        del self.history[:-HISTORY]

    def _anything_new(self, small: np.ndarray, strokes: np.ndarray) -> bool:
        """Whether the line detector is worth running on this sample (see ``GATE_DENSITY``); it always is on the
        first one, and everywhere is looked at again every ``RELOOK_EVERY`` samples."""
        older = [f for _, f in self.history[-2:]]
        if self.looked is None or self.fresh is None or self.looked.shape != small.shape or len(older) < 2 or \
                any(f.shape != small.shape for f in older):
            self.looked, self.fresh = small.copy(), np.zeros(small.shape, bool)
            self._relook = self.frames
            return True
        if self.frames - self._relook >= RELOOK_EVERY:
            self.fresh[:] = True
            self._relook = self.frames
        still = (cv2.absdiff(small, older[1]) <= STILL) & (cv2.absdiff(small, older[0]) <= STILL)
        self._settled = bool(still.all())
        new = still & (strokes > 0) & (self.fresh | (cv2.absdiff(small, self.looked) > STILL))
        # the densest GATE_BLOCK of new still strokes (0/255 averaged): a line of text fills it, texture does not
        if int(cv2.blur(new.view(np.uint8) * np.uint8(255), GATE_BLOCK).max()) < 255 * GATE_DENSITY:
            return False
        self.looked[still] = small[still]  # looked at now: not new again until it changes
        self.fresh[still] = False
        return True

    def _read_due(self, t: float, gray: np.ndarray) -> None:
        for tr in self.tracks:
            if tr.misses:
                continue
            due = (tr.reads == 0 and tr.steady >= READ_AFTER) or \
                  (tr.reads == 1 and tr.steady >= READ_AFTER + REREAD_AFTER and tr.lines and
                   any(l.dropped or l.confidence < 90 for l in tr.lines))
            if not due:
                continue
            x, y, w, h = tr.box
            s = self.scale
            if tr.reads == 0:
                # a texture fails the glyph check on its own box already: spare it the whole-line search
                b = (int(x / s), int(y / s), max(1, int(round(w / s))), max(1, int(round(h / s))))
                p = max(4, b[3] // 4)
                if not glyph_rows(gray[max(0, b[1] - p):b[1] + b[3] + p, max(0, b[0] - p):b[0] + b[2] + p], 3, 2.0):
                    tr.reads = 2
                    continue
            full = _grow_to_row(gray, _whole_line(gray, (int(x / s), int(y / s), max(1, int(round(w / s))),
                                                         max(1, int(round(h / s))))))
            tr.reads += 1
            tr.read_box = (int(full[0] * s), int(full[1] * s), max(1, int(round(full[2] * s))), max(1, int(round(full[3] * s))))
            pad = max(4, full[3] // 4)
            crop = gray[max(0, full[1] - pad):full[1] + full[3] + pad, max(0, full[0] - pad):full[0] + full[2] + pad]
            rows = glyph_rows(crop)
            if not rows:
                if tr.reads == 1:
                    tr.reads = 2  # no row of glyphs: texture, not read again while it stays
                continue
            lines: list[TextLine] = []
            for row in rows[:READ_TRIES]:  # the likeliest polarity first; the next only when it read unsure
                got = read_row(self.reader, crop, row, max(0, full[0] - pad), max(0, full[1] - pad), self.cache)
                if _score(got) > _score(lines):
                    lines = got
                if lines and all(l.confidence >= CLEAR_READING and not l.dropped for l in lines):
                    break
            sc = _score(lines)
            if sc > tr.score:
                tr.lines, tr.score = lines, sc
            if tr.lines and tr.reads == 1 and self.prev_small is not None:
                # follow the text itself from now on: the box the reading found, its ink settled on the next sample
                bx0 = min(l.box[0] for l in tr.lines) * s
                by0 = min(l.box[1] for l in tr.lines) * s
                bx1 = max(l.box[0] + l.box[2] for l in tr.lines) * s
                by1 = max(l.box[1] + l.box[3] for l in tr.lines) * s
                hh, ww = self.prev_small.shape
                nb = (max(0, int(bx0) - 1), max(0, int(by0) - 1))
                tr.box = (nb[0], nb[1], max(2, min(ww, int(bx1) + 2) - nb[0]), max(2, min(hh, int(by1) + 2) - nb[1]))
                tr.img = _crop(self._small if self._small is not None else self.prev_small, tr.box).astype(np.int16)
                tr.ink = None

    def _end(self, tracks: list[_Track]) -> None:
        if self.fresh is not None:
            for tr in tracks:  # what covered these pixels went: the same text coming back is new again
                x, y, w, h = tr.box
                self.fresh[y:y + h, x:x + w] = True
        self.done.extend(tr for tr in tracks if tr.lines)
        self.textures = [tr for tr in self.textures if tr.last >= self.prev_t - FORGET_AFTER]
        self.textures += [tr for tr in tracks if tr.reads and not tr.lines]

    def finish(self, duration: float) -> list[ScreenSegment]:
        """The readings, timed, one per line of text while it stayed; merges a line split by a flicker.

        Arguments:
            duration: the video's length (a reading still on screen at the end lasts to it).

        Returns:
            ScreenSegments ordered by start, then top to bottom.
        """
        end_of_video = max(duration, self.prev_t)
        segs: list[ScreenSegment] = []
        for tr in self.done + self.tracks:
            start = (tr.before + tr.first) / 2
            if tr.after is not None:
                end = (tr.last + tr.after) / 2
            else:  # on screen in the last frame watched: to the end of the video
                end = end_of_video
            for line in tr.lines:
                segs.append(ScreenSegment(round(start, 3), round(end, 3), line.text, line.confidence, line.box,
                                          samples=tr.seen))
        return _join(segs)


def _join(segs: list[ScreenSegment]) -> list[ScreenSegment]:
    """One segment per line of text while it stays: readings of the same text at the same height that touch in
    time (a region split in two tracks by a flicker, or read in two overlapping regions) are one."""
    segs.sort(key=lambda g: (g.start, g.box[1]))
    out: list[ScreenSegment] = []
    for g in sorted(segs, key=lambda g: -len(comparable_text(g.text))):  # longest first: a fragment folds into its line
        key = comparable_text(g.text)
        for o in out:
            if key and key in comparable_text(o.text) and _overlap(g.box, o.box) > 0.5 and \
                    min(g.end, o.end) - max(g.start, o.start) > 0.5 * (g.end - g.start):
                break  # a word of a line read on its own while the line was read whole
            if g.start <= o.end + JOIN_GAP and g.end >= o.start - JOIN_GAP and \
                    abs((g.box[1] + g.box[3] / 2) - (o.box[1] + o.box[3] / 2)) <= max(g.box[3], o.box[3]) and \
                    difflib.SequenceMatcher(None, comparable_text(o.text), key).ratio() >= SAME_TEXT:
                o.start, o.end = min(o.start, g.start), max(o.end, g.end)
                o.samples += g.samples
                if g.confidence * len(key) > o.confidence * len(comparable_text(o.text)):
                    o.text, o.confidence, o.box = g.text, g.confidence, g.box
                break
        else:
            out.append(g)
    out.sort(key=lambda g: (g.start, g.box[1]))
    return out


_cv_lock = threading.Lock()
_cv_users = 0
_cv_saved = 0


@contextmanager
def _opencv_threads(n: int) -> Iterator[None]:
    """OpenCV's thread pool set to ``n`` threads while the block runs, and restored after.

    Why: the watch's OpenCV calls are small (640x360 masks); spread over a pool they cost more CPU than they save
    wall time, and the pool's threads contend with Whisper's for the cores. ``cv2.setNumThreads`` is
    process-wide, so overlapping watches (a media pool of several workers) share one setting: the first in saves
    the previous value and the last out restores it."""
    global _cv_users, _cv_saved
    with _cv_lock:
        if _cv_users == 0:
            _cv_saved = cv2.getNumThreads()
            cv2.setNumThreads(n)
        _cv_users += 1
    try:
        yield
    finally:
        with _cv_lock:
            _cv_users -= 1
            if _cv_users == 0:
                cv2.setNumThreads(_cv_saved)


def screen_text_by_change(path: Path, reader: ScreenReader, duration: float = 0.0,
                          step: float = SAMPLE_STEP) -> ScreenText:
    """Read the text on screen of a video, reading each region of text once when it appears or changes.

    Arguments:
        path: the video.
        reader: a loaded ScreenReader (used from this thread only).
        duration: the video's length in seconds, when known (readings on screen at the end last to it).
        step: seconds of video between watched frames.

    Returns:
        ScreenText with one timed segment per line; ``frames_read`` counts the frames watched.

    Raises:
        NoPicture: the file has no video stream.
        FrameSizeError: its frames are too small, too elongated or too large to hold a readable caption.
        MediaError: the file cannot be opened.
    """
    watcher = TextWatcher(reader)
    with _opencv_threads(1):
        for t, gray in _frames(path, step):
            watcher.add(t, gray)
    segs = watcher.finish(duration)
    return ScreenText(segs, max(duration, watcher.prev_t), watcher.frames, screen_language(segs),
                      engine_version=reader.version)


def cpu_seconds() -> float:
    """CPU seconds used by this process and its finished children (for the bench's cost per minute)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
