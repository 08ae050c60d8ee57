"""How speech is written down, made comparable: the shadow text the indexes hold, and the same rules for queries.

Whisper writes "five" where a caption says "5", "Mr." where a query says "mister", "twenty-first" where a
scholar types "21st", "이천십구년" where a bulletin's caption says "2019년". Two texts that say the same thing must
meet in the index, both ways, while users still see the words as transcribed:

* **In place** (Latin script): English number words 0–1000 become digits ("twenty-five" → ``25``,
  "one hundred and five" → ``105``), ordinals become digit ordinals ("fifth" → ``5th``, "twenty-first" →
  ``21st``), thousands separators go ("1,000" → ``1000``), "Mr"/"Dr" become "mister"/"doctor". A query goes
  through the same function, so "press 5 to repeat" and "press five to repeat" are one phrase to FTS5.
* **Alternates** appended after a sentinel token, so that phrases over the in-place words keep their word
  positions: the joined form of hyphenated compounds ("well-known" → ``wellknown``), and for Korean the other
  way of writing a Sino-Korean number ("이천십구년" ↔ ``2019년``; "오월" ↔ ``5월``). The Hangul is kept in
  place, so substring search (particles attached) still finds 평양 in 평양을.
* **Query-time alternatives** (:func:`query_alternatives`): "St" may be "saint" or "street"; a long word may
  be a compound that the transcript split ("ceasefire" ↔ "cease fire").

:func:`analyze` keeps, for every word of the original, its character span and the forms it became: the
search uses it to highlight the matched words and to find the first one (its word timestamp is the hit's time).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

VERSION = "2"            # bump when the shadow text changes: the catalogue rebuilds its search indexes
ALT_SENTINEL = "xqaltx"  # separates in-place words from alternates in the shadow text (never a real word)

_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
          "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_ORD_UNITS = ["zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
              "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth",
              "nineteenth"]
_ORD_TENS = {"twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "sixtieth": 60, "seventieth": 70,
             "eightieth": 80, "ninetieth": 90}
UNIT = {w: i for i, w in enumerate(_UNITS)}
ORD_UNIT = {w: i for i, w in enumerate(_ORD_UNITS)}
ABBREVIATIONS = {"mr": "mister", "dr": "doctor", "mrs": "missus", "prof": "professor", "gen": "general",
                 "sgt": "sergeant", "capt": "captain", "col": "colonel", "lt": "lieutenant", "govt": "government"}
# Words that may stand for one another at query time (the text cannot tell which one "St." was).
AMBIGUOUS = {"st": ("st", "saint", "street"), "saint": ("saint", "st"), "street": ("street", "st"),
             "ave": ("ave", "avenue"), "avenue": ("avenue", "ave"), "mt": ("mt", "mount"), "mount": ("mount", "mt")}

# Contractions, read as their full words both ways ("I'm afraid" = "I am afraid"). Not 's (is / has / possessive)
# nor 'd (had / would): they cannot be told apart from the text.
CONTRACTIONS = {"won't": ("will", "not"), "can't": ("can", "not"), "cannot": ("can", "not"), "shan't": ("shall", "not"),
                "ain't": ("is", "not"), "let's": ("let", "us")}
CONTRACTION_SUFFIXES = (("n't", ("not",)), ("'m", ("am",)), ("'re", ("are",)), ("'ve", ("have",)), ("'ll", ("will",)))


def _expand_contraction(w: str) -> tuple[str, ...] | None:
    w = w.replace("’", "'")
    if w in CONTRACTIONS:
        return CONTRACTIONS[w]
    for suffix, tail in CONTRACTION_SUFFIXES:
        if w.endswith(suffix) and len(w) > len(suffix):
            return (w[: -len(suffix)], *tail)
    return None


# Sino-Korean numerals.
KO_DIGIT = {"영": 0, "공": 0, "일": 1, "이": 2, "삼": 3, "사": 4, "오": 5, "육": 6, "륙": 6, "칠": 7, "팔": 8, "구": 9}
KO_UNIT = {"십": 10, "백": 100, "천": 1000}
KO_MYRIAD = {"만": 10_000, "억": 100_000_000}
# Counters after which a one-syllable numeral is a number ("오월" = May = 5월); "번" is left out: 이번 = "this time".
KO_COUNTERS = ("주년", "년", "월", "일", "명", "개", "차", "층", "호", "회", "시", "분", "초", "원", "톤", "킬로", "미터", "퍼센트", "프로")

WORD_RE = re.compile(r"\d+(?:,\d{3})+(?!\d)|\w+(?:['’]\w+)*")
CJK_RE = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
HANGUL_RUN_RE = re.compile(r"[\uac00-\ud7af]+")


def fold(word: str) -> str:
    """Lower case, diacritics removed (as FTS5's unicode61 remove_diacritics 2 does)."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    # NFC puts Hangul syllables (decomposed into jamo by NFKD) back together.
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


@dataclass
class Word:
    start: int           # character span in the original text
    end: int
    text: str            # as written
    forms: list[str]     # what the index holds for it, in order (usually one; "" when it merged into the previous)


def _ordinal_suffix(n: int) -> str:
    if n % 100 in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _parse_number(words: list[str], i: int) -> tuple[str, int] | None:
    """An English number phrase starting at words[i] (folded words): (canonical form, words used), or None."""
    n = len(words)

    def small(j: int) -> tuple[int, bool, int] | None:  # 0..99: (value, ordinal, next index)
        if j >= n:
            return None
        w = words[j]
        if w in _TENS:
            if j + 1 < n and words[j + 1] in UNIT and 0 < UNIT[words[j + 1]] < 10:
                return _TENS[w] + UNIT[words[j + 1]], False, j + 2
            if j + 1 < n and words[j + 1] in ORD_UNIT and 0 < ORD_UNIT[words[j + 1]] < 10:
                return _TENS[w] + ORD_UNIT[words[j + 1]], True, j + 2
            return _TENS[w], False, j + 1
        if w in _ORD_TENS:
            return _ORD_TENS[w], True, j + 1
        if w in UNIT:
            return UNIT[w], False, j + 1
        if w in ORD_UNIT:
            return ORD_UNIT[w], True, j + 1
        return None

    w = words[i]
    multipliers = ("hundred", "thousand", "hundredth", "thousandth")
    # "a hundred", "a thousand"
    if w == "a":
        if i + 1 >= n or words[i + 1] not in multipliers:
            return None
        head, j = 1, i + 1
    else:
        s = small(i)
        if s is None:
            return None
        head, ordinal, j = s
        plain = (f"{head}{_ordinal_suffix(head)}" if ordinal else str(head)), j - i
        if ordinal or j >= n or words[j] not in multipliers:
            return plain
        if words[j].startswith("hundred") and not 1 <= head <= 9 or words[j].startswith("thousand") and head != 1:
            return plain
    mult = words[j]
    if mult.startswith("thousand"):
        return ("1000th" if mult.endswith("th") else "1000"), j + 1 - i
    value = head * 100
    if mult.endswith("th"):
        return f"{value}th", j + 1 - i
    k = j + 1
    if k < n and words[k] == "and" and small(k + 1) is not None:
        k += 1
    rest = small(k)
    if rest is not None and 0 < rest[0] < 100:
        value += rest[0]
        return (f"{value}{_ordinal_suffix(value)}" if rest[1] else str(value)), rest[2] - i
    return str(value), j + 1 - i


def _ko_number(s: str) -> int | None:
    """Value of a whole string of Sino-Korean numeral syllables, or None when it is not a well-formed number."""
    total, section, digit, last_unit = 0, 0, None, 10**9
    for ch in s:
        if ch in KO_DIGIT:
            if digit is not None:
                return None
            digit = KO_DIGIT[ch]
        elif ch in KO_UNIT:
            u = KO_UNIT[ch]
            if u >= last_unit:
                return None
            section += (1 if digit is None else digit) * u
            digit, last_unit = None, u
        elif ch in KO_MYRIAD:
            section += digit or 0
            if section == 0 and digit is None:
                section = 1
            total += section * KO_MYRIAD[ch]
            section, digit, last_unit = 0, None, 10**9
        else:
            return None
    return total + section + (digit or 0)


def _ko_numeral(n: int) -> str:
    """Sino-Korean reading of 0 < n < 10^8 (as written in transcripts: 이천십구, 삼십, 백오)."""
    digits = "영일이삼사오육칠팔구"
    out = []
    if n >= 10_000:
        out.append(("" if n // 10_000 == 1 else _ko_numeral(n // 10_000)) + "만")
        n %= 10_000
    for unit, name in ((1000, "천"), (100, "백"), (10, "십")):
        d = n // unit
        if d:
            out.append(("" if d == 1 else digits[d]) + name)
        n %= unit
    if n:
        out.append(digits[n])
    return "".join(out)


def korean_alternates(run: str) -> list[str]:
    """The other spellings of a Hangul/digit word's leading number: 이천십구년에 -> [2019년에], 2019년 -> [이천십구년]."""
    m = re.match(r"(\d+)([\uac00-\ud7af].*)?$", run)
    if m:
        n = int(m.group(1))
        if 0 < n < 100_000_000 and len(m.group(1)) < 9 and m.group(2):
            return [_ko_numeral(n) + m.group(2)]
        return []
    best = None
    for k in range(min(len(run), 12), 0, -1):
        head, rest = run[:k], run[k:]
        value = _ko_number(head)
        if value is None:
            continue
        if k >= 2 or rest.startswith(KO_COUNTERS):
            best = (value, rest)
        break
    if best is None:
        return []
    return [f"{best[0]}{best[1]}"]


def analyze(text: str) -> list[Word]:
    """The words of ``text`` with their index forms (see the module docstring)."""
    raw = [(m.start(), m.end(), m.group(0)) for m in WORD_RE.finditer(text)]
    words = [Word(a, b, t, []) for a, b, t in raw]
    folded = [fold(t.replace(",", "")) if t[:1].isdigit() else fold(t) for _, _, t in raw]
    # Hyphenated number words ("twenty-five") read as one: the regex split them at the hyphen.
    i = 0
    while i < len(words):
        w = folded[i]
        parsed = _parse_number(folded, i) if (w in UNIT or w in ORD_UNIT or w in _TENS or w in _ORD_TENS or w == "a") else None
        if parsed is not None:
            form, used = parsed
            # only join words separated by spaces or hyphens
            gap_ok = all(re.fullmatch(r"[\s-]*", text[words[k].end:words[k + 1].start]) for k in range(i, i + used - 1))
            if gap_ok:
                words[i].forms = [form]
                for k in range(i + 1, i + used):
                    words[k].forms = [""]
                i += used
                continue
        expanded = _expand_contraction(w) if ("'" in w or "’" in w or w == "cannot") else None
        if w in ABBREVIATIONS and text[words[i].end:words[i].end + 1] in (".", " ", ""):
            words[i].forms = [ABBREVIATIONS[w]]
        elif expanded:
            words[i].forms = list(expanded)
        else:
            words[i].forms = [w]
        i += 1
    return words


def alternates(text: str, words: list[Word] | None = None) -> list[str]:
    """Forms that go after the sentinel: joined hyphenated compounds, other spellings of Korean numbers."""
    words = analyze(text) if words is None else words
    out: list[str] = []
    k = 0
    while k < len(words):
        j = k
        while j + 1 < len(words) and text[words[j].end:words[j + 1].start] == "-":
            j += 1
        if j > k and all(w.forms != [""] for w in words[k:j + 1]):
            out.append("".join(fold(w.text) for w in words[k:j + 1]))
        k = j + 1
    for w in words:
        if CJK_RE.search(w.text) or (w.text[:1].isdigit() and HANGUL_RUN_RE.search(w.text)):
            out += korean_alternates(w.text)
    return out


def shadow(text: str) -> str:
    """The normalised text the search indexes hold for ``text`` (never shown to users)."""
    words = analyze(text)
    pieces, pos = [], 0
    for w in words:
        pieces.append(text[pos:w.start])
        pieces.append(" ".join(f for f in w.forms if f) if w.forms != [fold(w.text)] else w.text)
        pos = w.end
    pieces.append(text[pos:])
    out = "".join(pieces)
    alts = alternates(text, words)
    if alts:
        out += f" {ALT_SENTINEL} " + " ".join(alts)
    return out


def bigrams(text: str) -> str:
    """Tokens for the short-Korean index: every two-character piece of each word holding CJK, plus its last
    character alone (so a one-syllable query ``X*`` finds X anywhere in a word); other words whole, lower case.
    Empty for text without CJK (English segments cost nothing here)."""
    if not CJK_RE.search(text):
        return ""
    out = []
    for m in re.finditer(r"\w+", text):
        w = fold(m.group(0))
        if CJK_RE.search(w):
            out += [w[i:i + 2] for i in range(len(w) - 1)]
            out.append(w[-1])
        else:
            out.append(w)
    return " ".join(out)


def gram_query(term: str, prefix: bool = False) -> str:
    """FTS5 expression over :func:`bigrams` tokens for a substring ``term`` (words separated by spaces)."""
    parts = [fold(p) for p in re.findall(r"\w+", term)]
    if not parts:
        return '""'
    toks: list[str] = []
    last_prefix = False
    for k, w in enumerate(parts):
        last = k == len(parts) - 1
        if not CJK_RE.search(w):
            toks.append(w)
            last_prefix = last and prefix
            continue
        if len(w) == 1:
            if last:
                toks.append(w)
                last_prefix = True
            else:
                toks.append(w)
            continue
        toks += [w[i:i + 2] for i in range(len(w) - 1)]
        if not last:
            toks.append(w[-1])
        else:
            last_prefix = prefix and False
    body = '"' + " ".join(t.replace('"', '""') for t in toks) + '"'
    return body + (" *" if last_prefix else "")


def query_alternatives(form: str, splits: bool = True) -> list[tuple[str, ...]]:
    """Ways one query word may appear in the index: itself, an ambiguous abbreviation's readings, and for a long
    word its splits into two words (a compound the transcript wrote apart)."""
    alts: list[tuple[str, ...]] = [(form,)]
    for a in AMBIGUOUS.get(form, ()):
        if (a,) not in alts:
            alts.append((a,))
    if splits and form.isalpha() and 8 <= len(form) <= 20 and not CJK_RE.search(form):
        alts += [(form[:i], form[i:]) for i in range(4, len(form) - 3)]
    return alts


def query_units(text: str, splits: bool = True) -> list[list[tuple[str, ...]]]:
    """A run of plain query words as units to match, each a list of alternative form sequences (any one will do):
    numbers and abbreviations in their index form, hyphenated words as their parts or joined, ambiguous
    abbreviations and long words with their readings (:func:`query_alternatives`)."""
    words = analyze(text)
    units: list[list[tuple[str, ...]]] = []
    k = 0
    while k < len(words):
        j = k
        while j + 1 < len(words) and text[words[j].end:words[j + 1].start] == "-":
            j += 1
        forms = tuple(f for w in words[k:j + 1] for f in w.forms if f)
        if j > k:
            alts = [forms]
            joined = "".join(fold(w.text) for w in words[k:j + 1])
            if len(forms) > 1 and (joined,) not in alts:
                alts.append((joined,))
            units.append(alts)
        else:
            for f in forms:
                units.append(query_alternatives(f, splits))
        k = j + 1
    return [u for u in units if u and u[0]]
