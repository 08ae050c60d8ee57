"""The one place untrusted text is made safe for a terminal.

Titles, descriptions, channel names, the platforms' messages and transcript text come from the internet. Printed
raw, a control character is an instruction to the archivist's terminal: ``ESC [2J`` clears the screen,
``ESC ] 0;…BEL`` sets the window title (and, in some terminals, more), a CR or LF fakes an output line, a bidi
override (U+202E) makes text read backwards. ``terminal_safe`` shows every such character as a visible escape
(``\\x1b``, ``\\r``, ``\\u202e``); ``safe_markup`` does the same and escapes Rich markup; ``SafeConsole`` is a Rich
console that applies ``terminal_safe`` to every piece of text it writes (tables included) — a backstop for text
that reaches it without passing ``safe_markup``. JSON output never passes through here: it stays exact.

A leaf module: it imports nothing from the rest of the library.
"""

from __future__ import annotations

import re
from typing import Iterable

from rich.console import Console
from rich.markup import escape as _markup_escape
from rich.segment import Segment

# C0 controls (but TAB), DEL, C1 controls, and the Unicode format characters that reorder or hide text: bidi
# embeddings/overrides/isolates (U+202A–202E, U+2066–2069), LRM/RLM/ALM, and line/paragraph separators.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# The same, keeping the newline: Rich's own line breaks travel as "\n" segments.
_UNSAFE_KEEP_NL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\x1b": "\\x1b", "\x00": "\\x00", "\x07": "\\x07", "\x08": "\\x08"}


def _visible(m: re.Match) -> str:
    ch = m.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: object, keep_newlines: bool = False) -> str:
    """``text`` with every control character, escape sequence introducer and bidi control shown as a visible
    escape (``\\x1b[2J`` prints as the six characters ``\\x1b[2J``).

    Arguments: text — anything (``str()`` is taken; None gives ""); keep_newlines — leave "\\n" as a line break
    (for multi-line text the program itself lays out, such as a description).
    Returns: a string that, printed, cannot move the cursor, clear the screen, set a title or reorder text.
    """
    if text is None:
        return ""
    s = text if isinstance(text, str) else str(text)
    return (_UNSAFE_KEEP_NL if keep_newlines else _UNSAFE).sub(_visible, s)


def safe_markup(text: object) -> str:
    """``terminal_safe`` and Rich-markup escaping in one: for untrusted text placed inside Rich markup.

    Arguments: text — anything (None gives ""). Returns: text safe to embed in a Rich markup string.
    """
    return _markup_escape(terminal_safe(text))


class SafeConsole(Console):
    """A Rich console that cannot be made to write control characters from the text it renders.

    Styles, cursor moves and links that Rich itself emits are kept (they are control *segments* or styles, not
    text); the text of every segment goes through ``terminal_safe`` (newlines kept) just before it is written.
    """

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:  # noqa: D401 - Rich's hook, see class docstring
        clean = [seg if seg.control else Segment(terminal_safe(seg.text, keep_newlines=True), seg.style, seg.control)
                 for seg in buffer]
        return super()._render_buffer(clean)
