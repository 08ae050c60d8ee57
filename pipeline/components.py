"""Optional system components a stage can go without: how a stage says what it lacked, and how a run says it once.

A stage whose optional component (Tesseract language data, a Chromaprint fingerprinter) is missing or corrupt does
not fail: it is ``skipped`` (or does the part it can) and lists a ``Need`` in its outcome's ``detail["needs"]``.
The run's report gathers the needs of every video, and the CLI prints each distinct one once, with the one command
that adds it (``summary_lines``). ``pipeline.doctor`` checks the same components before any run.

A leaf module: rooms and stages import it; it imports nothing of clipwatch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Need:
    """What a stage went without on this machine.

    Arguments:
        component: a short stable name (``tesseract-kor``, ``chromaprint``): needs with one name are one line.
        lacks: what was not done, in words (``text on screen in Korean``).
        fix: the one command that adds the component (``apt-get install tesseract-ocr-kor``).
    """

    component: str
    lacks: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Need:
        return cls(str(d["component"]), str(d["lacks"]), str(d["fix"]))


def gather(needs: Iterable[dict[str, Any] | Need]) -> list[Need]:
    """Distinct needs in first-seen order (one per component, however many videos or stages reported it).

    Arguments:
        needs: needs as stored in outcomes (dicts) or ``Need`` values.

    Returns:
        One ``Need`` per component name.
    """
    out: dict[str, Need] = {}
    for n in needs:
        need = n if isinstance(n, Need) else Need.from_dict(n)
        out.setdefault(need.component, need)
    return list(out.values())


def summary_lines(needs: Iterable[dict[str, Any] | Need]) -> list[str]:
    """The lines a run's summary prints: one per missing component, what was not done and how to add it.

    Arguments:
        needs: every need the run's outcomes listed (repeats are folded).

    Returns:
        Lines such as ``skipped on this machine: text on screen in Korean — add it with `apt-get install
        tesseract-ocr-kor`, then run `clipwatch reprocess``` (the skipped work is not recorded as done).
    """
    return [f"skipped on this machine: {n.lacks} — add it with `{n.fix}`, then run `clipwatch reprocess`"
            for n in gather(needs)]
