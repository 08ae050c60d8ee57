"""A programme's title, where the screen or the speech of its first minute names it.

Nothing is read again here: the readings are those the analysis stages stored for the recording segments (text on
screen as the ``screen`` transcript, speech as the ``original`` transcript). A programme whose segments were not
analysed has no title (``None``), never a guess.

- screen: the first reading in the first ``WINDOW`` seconds that looks like a title — two to eight words, mostly
  letters (a clock, a ticker's long sentence or a channel name repeated on every programme is not one).
- speech: an announcement in the first ``WINDOW`` seconds — "this is …", "you are watching …", "welcome to …" — and
  the words after it up to the end of the sentence (at most eight).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable

WINDOW = 60.0
MAX_WORDS = 8
ANNOUNCEMENT = re.compile(r"\b(?:this is|you are watching|you're watching|welcome to|now on \w+,?|and now,?)\s+"
                          r"(?P<title>[^.!?;:]+)", re.IGNORECASE)
#: readings repeated on more than this share of a day's programmes are the channel's own (its name, a clock)
COMMON_SHARE = 0.5


def _looks_like_title(text: str) -> bool:
    words = text.split()
    if not 2 <= len(words) <= MAX_WORDS:
        return False
    letters = sum(ch.isalpha() for ch in text)
    return letters >= 0.6 * len(text.replace(" ", ""))


def title_from_lines(screen: Iterable[tuple[float, str]], speech: Iterable[tuple[float, str]],
                     common: set[str] = frozenset()) -> tuple[str | None, str | None]:  # type: ignore[assignment]
    """(title, source) from the first minute's screen readings and transcript lines (seconds from the programme start).

    Arguments:
        screen: (seconds, text) of screen-text readings.
        speech: (seconds, text) of transcript lines.
        common: readings to pass over (the channel's name, shown on every programme).
    Returns:
        (title, "screen" | "speech") or (None, None).
    """
    for at, text in sorted(screen):
        t = " ".join(str(text).split())
        if 0 <= at <= WINDOW and t.lower() not in common and _looks_like_title(t):
            return t, "screen"
    for at, text in sorted(speech):
        if not 0 <= at <= WINDOW:
            continue
        m = ANNOUNCEMENT.search(str(text))
        if m:
            words = m.group("title").strip().split()[:MAX_WORDS]
            if words:
                return " ".join(words).strip(" ,"), "speech"
    return None, None


def title_lines(lines_of: Callable[[str, str], list[Any]], segments: list[dict[str, Any]], start: float, end: float,
                kind: str) -> list[tuple[float, str]]:
    """Lines of ``kind`` in the first WINDOW seconds of a programme (not past its end), over the segments holding them.

    Arguments:
        lines_of: the catalogue's ``segments(video_id, kind)`` (rows with start, text).
        segments: the channel's recorded segments with ``air_start_s``/``air_end_s`` (epoch seconds).
        start, end: the programme's start and end (epoch seconds).
        kind: ``screen`` or ``original``.
    Returns:
        (seconds from the programme's start, text).
    """
    out = []
    until = min(WINDOW, end - start)  # the next programme's first words are not this one's title
    for seg in segments:
        if (seg["air_end_s"] or seg["air_start_s"]) <= start or seg["air_start_s"] >= start + until:
            continue
        for row in lines_of(seg["video_id"], kind):
            at = seg["air_start_s"] + float(row["start"]) - start
            if 0 <= at < until:
                out.append((at, str(row["text"])))
    return out
