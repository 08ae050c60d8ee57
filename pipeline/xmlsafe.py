"""Text that every XML parser accepts: characters XML 1.0 forbids (C0 controls but tab/newline/return, lone
surrogates, U+FFFE/U+FFFF) replaced by U+FFFD. A channel name holding ``\\x0b`` or ``\\x1b`` otherwise makes a
GraphML or SVG file unreadable by Gephi, yEd, networkx or a browser."""

from __future__ import annotations

import re
from typing import Any

_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: Any) -> Any:
    """The text with XML-forbidden characters replaced by U+FFFD; anything but text as it is.

    Arguments: value — a string (or any value).
    Returns: the cleaned string, or the value unchanged."""
    return _FORBIDDEN.sub("\ufffd", value) if isinstance(value, str) else value
