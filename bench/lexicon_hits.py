"""Each lexicon term's hits on REAL text that is not news, music talk or propaganda.

    python bench/lexicon_hits.py            # terms that fire on the negatives, and per-group totals
    python bench/lexicon_hits.py --all      # every term, with its hits on the (synthetic) positive sentences too

Negatives (real, none of them news, music or propaganda):
- the prompt texts of asterisk-core-sounds-{en,fr,es} (``core-sounds-*.txt`` in /work/media/speech):
  telephone menus ("press 1 to ...");
- the reference transcripts of pocketsphinx-testdata (a LibriVox reading of Sense and Sensibility,
  spoken card numbers);
- Debian's ``fortunes`` and ``fortunes-min`` (quotations, literature, jokes; the ``news`` and
  ``politics`` files are left out), fetched with ``apt-get download`` into bench/.cache/lexicon.

Positives, labelled synthetic: the sentences of bench/tagging_corpus.py (written for clipwatch in the
outlets' stock phrasing), to show what a change costs on the material the tagger was built for.

A term listed here fires on ordinary text: the lexicon keeps it only as part of a longer expression.
The groups' title_en / title_ko terms count in titles, descriptions and tags only, so they are not scanned here.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pipeline.tagging.signals import text as textsig  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "lexicon"
# The real recordings of ../shared/media/fetch.sh (CLIPWATCH_REAL_MEDIA, else a "media" folder beside the checkout).
MEDIA = Path(os.environ.get("CLIPWATCH_REAL_MEDIA", Path(__file__).resolve().parents[2] / "media"))
FORTUNE_SKIP = {"news", "politics"}


def asterisk_texts(media: Path) -> dict[str, str]:
    out = {}
    for p in sorted((media / "speech").glob("asterisk_*/core-sounds-*.txt")):
        lines = []
        for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
            # "file: prompt text" lines; keep the spoken text only
            lines.append(line.split(":", 1)[1] if ":" in line else line)
        out[f"asterisk {p.stem}"] = "\n".join(lines)
    return out


def pocketsphinx_texts(media: Path) -> dict[str, str]:
    out = []
    for p in [media / "speech/librivox/transcription", media / "speech/cards/cards.transcription"]:
        if p.exists():
            out += [re.sub(r"</?s>|\(.*?\)", " ", line) for line in p.read_text(errors="replace").splitlines()]
    return {"pocketsphinx-testdata transcripts": "\n".join(out)} if out else {}


def fortunes() -> dict[str, str]:
    x = CACHE / "x"
    if not x.is_dir():
        if not shutil.which("apt-get"):
            return {}
        CACHE.mkdir(parents=True, exist_ok=True)
        if subprocess.run(["apt-get", "download", "fortunes", "fortunes-min"], cwd=CACHE, capture_output=True).returncode != 0:
            print("apt-get download fortunes failed: fortunes left out", file=sys.stderr)
            return {}
        for deb in CACHE.glob("fortunes*.deb"):
            subprocess.run(["dpkg", "-x", str(deb), str(x)], check=True)
    files = [p for p in (x / "usr/share/games/fortunes").glob("*") if p.is_file() and "." not in p.name and p.name not in FORTUNE_SKIP]
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(files))
    return {"Debian fortunes (less news, politics)": text}


def positives() -> dict[str, str]:
    from tagging_corpus import POOLS

    out = {}
    for kind, pairs in POOLS.items():
        out[f"synthetic {kind}"] = "\n".join(en for en, _ in pairs) + "\n" + "\n".join(ko for _, ko in pairs)
    return out


def term_hits(texts: dict[str, str], lex) -> dict[str, dict[tuple[str, str], int]]:
    out = {}
    for name, text in texts.items():
        h = textsig.scan(text, lex)
        out[name] = {(g, t): n for g, c in h.terms.items() for t, n in c.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--media", type=Path, default=MEDIA)
    ap.add_argument("--all", action="store_true", help="list every term")
    args = ap.parse_args()
    lex = textsig.load_lexicon()
    neg = {**asterisk_texts(args.media), **pocketsphinx_texts(args.media), **fortunes()}
    pos = positives()
    words = {k: len(re.findall(r"\w+", v)) for k, v in neg.items()}
    print(f"lexicon {lex.version}: {len(lex.terms)} terms")
    print("negatives (real): " + "; ".join(f"{k} {v} words" for k, v in words.items()))
    nh, ph = term_hits(neg, lex), term_hits(pos, lex)
    total_neg = Counter()
    for d in nh.values():
        total_neg.update(d)
    total_pos = Counter()
    for d in ph.values():
        total_pos.update(d)
    per10k = 1e4 / max(1, sum(words.values()))
    print(f"\n{'group':<12} {'term':<34} {'neg hits':>8} {'/10k words':>10} {'synthetic pos':>13}   where")
    for g, t, _ in sorted(lex.terms, key=lambda x: (x[0], -total_neg[(x[0], x[1])])):
        n = total_neg[(g, t)]
        if n == 0 and not args.all:
            continue
        where = ", ".join(f"{k.split(' (')[0]} {d[(g, t)]}" for k, d in nh.items() if d.get((g, t)))
        print(f"{g:<12} {t:<34} {n:>8} {n * per10k:>10.2f} {total_pos[(g, t)]:>13}   {where}")
    print(f"\n{'group':<12} {'negative hits':>13} {'/10k words':>10} {'synthetic positive hits':>24}")
    for g in textsig.GROUPS:
        n = sum(v for (gg, _), v in total_neg.items() if gg == g)
        p = sum(v for (gg, _), v in total_pos.items() if gg == g)
        print(f"{g:<12} {n:>13} {n * per10k:>10.2f} {p:>24}")


if __name__ == "__main__":
    main()
