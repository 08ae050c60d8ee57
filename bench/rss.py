"""Where an ingest's memory goes: RSS sampled while ``clipwatch ingest`` runs, lined up with its stage spans.

    python bench/rss.py FILE [--model tiny] [--every 0.2]

Runs the real CLI (every default stage, a fresh archive, ``--json``) as a child and samples its
``/proc/PID/status`` every ``--every`` seconds: VmRSS, split into anonymous memory (RssAnon: arrays, models) and
file pages (RssFile: mapped files such as the decoded audio's memory map and the shared libraries), and its CPU
time. Prints the peak, each stage's span with the peak inside it, and the timeline every 2 s — what grows with the
video's length shows as a stage whose peak grows when FILE does (``bench/e2e.py --hours`` makes long files).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sample(pid: int) -> tuple[int, int, int, float] | None:
    """(VmRSS, RssAnon, RssFile) in MB and CPU seconds of ``pid``; None once it is gone."""
    try:
        fields = {}
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) // 1024
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        return fields["VmRSS"], fields["RssAnon"], fields["RssFile"], cpu
    except (OSError, KeyError, IndexError, ValueError):
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--every", type=float, default=0.2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cw-rss-") as tmp:
        cmd = [sys.executable, "-c", "import sys; from pipeline.cli import main; sys.exit(main())", "--data-dir", tmp,
               "ingest", str(args.file.resolve()), "--model", args.model, "--json"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT), "CLIPWATCH_SEMANTIC": "1"})
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.append(proc.stdout.read() if proc.stdout else ""))
        reader.start()
        samples = []
        while proc.poll() is None:
            s = sample(proc.pid)
            if s is not None:
                samples.append((time.time(), *s))
            time.sleep(args.every)
        reader.join()
    if not samples:
        sys.exit("the ingest ended before it could be sampled")
    text = out[0] if out else ""
    report = json.loads(text[text.index("{"):]) if "{" in text else {}
    video = (report.get("videos") or [{}])[0]
    t0 = samples[0][0]
    peak = max(samples, key=lambda s: s[1])
    print(f"bench/rss.py {args.file.name} model {args.model}: exit {proc.returncode}; peak {peak[1]} MB at "
          f"{peak[0] - t0:.1f} s (anon {peak[2]}, file {peak[3]}); wall {samples[-1][0] - t0:.1f} s, CPU "
          f"{samples[-1][4]:.1f} s; load {os.getloadavg()[0]:.1f}")
    statuses = video.get("stages", {})
    for name, (a, b) in sorted(video.get("spans", {}).items(), key=lambda kv: kv[1][0]):
        inside = [s for s in samples if a <= s[0] <= b]
        top = max(inside, key=lambda s: s[1]) if inside else None
        print(f"{name:12s} {statuses.get(name, ''):8s} {a - t0:7.1f}-{b - t0:7.1f} s  peak "
              + (f"{top[1]} MB (anon {top[2]}, file {top[3]})" if top else "-"))
    last = -9.0
    for s in samples:
        if s[0] - t0 >= last + 2:
            last = s[0] - t0
            print(f"{last:6.1f}s {s[1]}MB a{s[2]} f{s[3]} cpu {s[4]:.0f}", end=" | ")
    print()


if __name__ == "__main__":
    main()
