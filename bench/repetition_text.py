"""Does the clause-loop flag (a clause said three times back to back) leave real text alone, and catch loops?

    python bench/repetition_text.py

No Whisper: the flag reads text, so it is measured on real text that was never a loop.

* false flags -- on the text alone (reference texts have no timings or decoder scores, so this is the strict view:
  in a transcript, an echo in a segment of its own is flagged only with evidence of a decoding loop, see
  ``bench/repetition.py`` for Whisper's real output) -- the reference transcripts of the recordings in ``/work/media/speech`` (Asterisk prompts in English,
  French and Spanish: ``asterisk-core-sounds-{en,fr,es}``; ``pocketsphinx-testdata``'s LibriVox and spoken-card
  utterances) and real Korean written by people: every Korean message of the Debian packages installed here
  (``/usr/share/locale/ko/LC_MESSAGES/*.mo``, one message a line). Each text is flagged alone (within a segment) and
  as a run of consecutive segments in file order (across segments: the prompts of a package were recorded in that
  order, and consecutive prompts often share words: "conf-..." prompts);
* catch rate -- the same real sentences turned into the loop of the issue: each sentence three times in one segment,
  and as three consecutive segments (only the two echoes should be flagged).
"""

from __future__ import annotations

import gettext
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.asr.flags import MIN_CLAUSE_WEIGHT, _units, _weight, looped_segments  # noqa: E402

MEDIA = Path(os.environ.get("CLIPWATCH_REAL_MEDIA", Path(__file__).resolve().parents[2] / "media"))
KO_MO = Path("/usr/share/locale/ko/LC_MESSAGES")


def asterisk(lang: str) -> list[str]:
    path = next((MEDIA / "speech" / f"asterisk_{lang}").glob("core-sounds-*.txt"))
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(";") or ":" not in line:
            continue
        out.append(line.split(":", 1)[1].strip())
    return [t for t in out if t]


def sphinx(folder: str, file: str) -> list[str]:
    lines = (MEDIA / "speech" / folder / file).read_text().splitlines()
    return [re.sub(r"</?s>|\(.*?\)$", "", t).strip() for t in lines if t.strip()]


def korean() -> dict[str, list[str]]:
    """Debian package's Korean messages, by .mo file (its package's translators wrote them)."""
    out = {}
    for mo in sorted(KO_MO.glob("*.mo")):
        with open(mo, "rb") as fh:
            try:
                cat = gettext.GNUTranslations(fh)._catalog
            except Exception:  # noqa: BLE001 -- a damaged catalogue is skipped, not measured
                continue
        texts = []
        for v in cat.values():
            for part in (v if isinstance(v, tuple) else [v]):
                texts += [t.strip() for t in str(part).splitlines() if re.search("[\uac00-\ud7af]", t)]
        if texts:
            out[mo.stem] = texts
    return out


def clause(text: str) -> bool:
    return sum(_weight(u) for u in _units(text)) >= MIN_CLAUSE_WEIGHT


def main() -> None:
    corpora: dict[str, list[list[str]]] = {}
    if (MEDIA / "speech").is_dir():
        for lang in ("en", "fr", "es"):
            corpora[f"asterisk-core-sounds-{lang}"] = [asterisk(lang)]
        corpora["pocketsphinx-testdata (librivox + cards)"] = [sphinx("librivox", "transcription"),
                                                              sphinx("cards", "cards.transcription")]
    else:
        print(f"no {MEDIA}/speech: build it with shared/media/fetch.sh", file=sys.stderr)
    ko = korean()
    if ko:
        corpora[f"Debian ko .mo ({len(ko)} packages)"] = list(ko.values())
    print("clause-loop flag on real text (a clause: >= 3 words or 6 syllables, said >= 3 times back to back)")
    print(f"{'corpus':44} {'texts':>7} {'alone flagged':>14} {'run flagged':>12} {'x3 caught':>16} {'3 segs caught':>16}"
          f" {'x3 and-joined':>16}")
    for name, groups in corpora.items():
        n = alone = run = caught = runs_caught = clauses = joined = 0
        examples = []
        for texts in groups:
            n += len(texts)
            for t, f in zip(texts, (looped_segments([t])[0] for t in texts)):
                alone += f
                if f and len(examples) < 3:
                    examples.append(t)
            flagged_run = looped_segments(texts)
            run += sum(flagged_run)
            examples += [t for t, f in zip(texts, flagged_run) if f][: max(0, 3 - len(examples))]
            for t in texts:
                if not clause(t):
                    continue
                clauses += 1
                caught += looped_segments([" ".join([t] * 3)])[0]
                runs_caught += looped_segments([t, t, t]) == [False, True, True]
                # the issue-21 form: copies joined by "and" ("went to the 1st floor and went to the 1st floor and …")
                joined += looped_segments([" and ".join([t.rstrip(".!?。") ] * 3)])[0]
        print(f"{name:44} {n:>7} {alone:>5} ({alone / max(1, n):6.2%}) {run:>4} ({run / max(1, n):5.2%})"
              f" {caught:>5}/{clauses:<5} ({caught / max(1, clauses):4.0%}) {runs_caught:>5}/{clauses:<5}"
              f" ({runs_caught / max(1, clauses):4.0%}) {joined:>5}/{clauses:<5} ({joined / max(1, clauses):4.0%})")
        for t in examples[:3]:
            print(f"    flagged: {t[:100]!r}")


if __name__ == "__main__":
    main()
