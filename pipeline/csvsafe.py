"""One CSV writer for every CSV clipwatch writes, neutralising spreadsheet formulas.

Channel names, titles and transcript lines come from uploaders; a cell beginning with ``=``, ``+``, ``-``, ``@``
(or a tab / carriage return, or their full-width forms, which some spreadsheets also read as a formula), possibly
after leading spaces, runs as a formula when the file is opened in Excel, LibreOffice or Google Sheets
(``=HYPERLINK("http://evil.example/x","Click")``). Such text gets a leading apostrophe, which spreadsheets show as
text and ``csv`` readers keep, so a reader sees what was there. Numbers are written as they are.
"""

from __future__ import annotations

import csv
from typing import Any, Iterable, Mapping

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise(value: Any) -> Any:
    """The cell as written: text that a spreadsheet would run as a formula gets a leading apostrophe.

    Arguments: value — any cell value.
    Returns: the value, or the text prefixed with ``'``."""
    if isinstance(value, str) and value.lstrip(" \x0b\x0c")[:1] in _TRIGGERS and value:
        return "'" + value
    return value


def is_formula(cell: str) -> bool:
    """True when a cell read back from a CSV would run as a spreadsheet formula (what the tests check)."""
    return cell.lstrip(" \x0b\x0c")[:1] in _TRIGGERS and cell != ""


class writer:  # noqa: N801 - used as csv.writer is
    """``csv.writer`` whose every cell goes through ``neutralise``."""

    def __init__(self, f: Any, **kw: Any):
        self._w = csv.writer(f, **kw)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._w.writerow([neutralise(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for r in rows:
            self.writerow(r)


class DictWriter(csv.DictWriter):
    """``csv.DictWriter`` whose every value goes through ``neutralise`` (the header is clipwatch's own)."""

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow({k: neutralise(v) for k, v in rowdict.items()})

    def writerows(self, rowdicts: Iterable[Mapping[str, Any]]) -> None:
        for r in rowdicts:
            self.writerow(r)
