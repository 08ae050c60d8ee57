"""Re-upload matching benchmark: recall of transformed copies, false matches, query time.

    python bench/matching.py

Archive: two 60 s originals built with lavfi (textured test pictures; random
colour gradients), plus unrelated videos (other gradient seeds, camera-motion
clips, a colour-card video). Each original gets the re-upload transforms from
pipeline/testing/media.py; a copy is *found* when its original ranks first with
score >= MIN_SCORE (the share of the copy's keyframes found in order).

Query time: the archive's real keyframe hashes plus uniformly random 64-bit
hashes up to 10^4, 10^5 and 10^6 stored; time per single-hash lookup (all
hashes within distance 8) and per whole-video query (every keyframe, with its
mirror and crop variants). Media are cached in bench/.cache (not in git).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "bench" / ".cache" / "matching"
MIN_SCORE = 0.3


def _cuts(seed: int, duration: float) -> list[float]:
    rng, t, out = random.Random(seed), 0.0, []
    while True:
        t += rng.uniform(1.5, 5.0)
        if t > duration - 1:
            return out
        out.append(round(t, 2))


def build() -> tuple[dict[str, Path], dict[str, dict[str, Path]], dict[str, Path]]:
    import pipeline.testing.media as mb

    CACHE.mkdir(parents=True, exist_ok=True)

    def once(p: Path, fn):
        if not p.exists():
            fn(p)
        return p

    originals = {
        "orig_textured": once(CACHE / "orig_textured.mp4", lambda p: mb.make_cut_video(p, _cuts(1, 60), (480, 360), duration=60, seed=0)),
        "orig_gradients": once(CACHE / "orig_gradients.mp4", lambda p: mb.make_cut_video(p, _cuts(2, 60), (480, 360), duration=60, pattern="gradients", seed=11)),
    }
    transforms = {
        "re-encode 240p 150 kbit/s": lambda s, d: mb.reencode_small(s, d, 240, "150k"),
        "re-encode 854x640 crf 30": lambda s, d: mb.transform_video(s, d, "scale=854:640", crf=30),
        "logo (corner bug)": mb.add_logo,
        "logo + caption bar": lambda s, d: mb.add_logo(s, d, caption=True),
        "border (pad 12 %)": mb.add_border,
        "crop 5 %": lambda s, d: mb.crop_frac(s, d, 0.05),
        "crop 10 %": mb.crop_frac,
        "mirror (hflip)": mb.mirror,
        "excerpt 20 s @ 23.3 s": lambda s, d: mb.excerpt(s, d, 23.3, 20.0),
        "mirror + logo + 240p": lambda s, d: mb.transform_video(
            s, d, "hflip,drawbox=x=iw*0.82:y=ih*0.04:w=iw*0.14:h=ih*0.11:color=white@0.9:t=fill,scale=320:-2", crf=28),
    }
    copies: dict[str, dict[str, Path]] = {}
    for oname, opath in originals.items():
        copies[oname] = {}
        for i, (tname, fn) in enumerate(transforms.items()):
            copies[oname][tname] = once(CACHE / f"{oname}_t{i}.mp4", lambda p, fn=fn, o=opath: fn(o, p))
    unrelated = {f"gradients_seed{s}": once(CACHE / f"unrel_grad{s}.mp4",
                                            lambda p, s=s: mb.make_cut_video(p, _cuts(s, 30), (480, 360), duration=30, pattern="gradients", seed=s))
                 for s in (21, 22, 23, 24)}
    for kind in ("pan", "zoom", "shake", "still"):
        unrelated[f"motion_{kind}"] = once(CACHE / f"unrel_{kind}.mp4", lambda p, k=kind: mb.make_motion_video(p, 15.0, (480, 360), kind=k))
    unrelated["colour_cards"] = once(CACHE / "unrel_colour.mp4", lambda p: mb.make_cut_video(p, _cuts(5, 20), (480, 360), duration=20, pattern="colour"))
    return originals, copies, unrelated


def main() -> None:
    import logging

    logging.disable(logging.WARNING)
    from pipeline.copies.matching import HashIndex, fingerprint_file, index_rows, match_keyframes
    from pipeline.shots.keyframes import extract_keyframes

    originals, copies, unrelated = build()
    rows = []
    results = {}
    for vid, p in {**originals, **unrelated}.items():
        r = extract_keyframes(p, CACHE / "kf" / vid)
        results[vid] = r
        rows += index_rows(vid, r)
    index = HashIndex(rows)
    print(f"clipwatch matching benchmark: {len(originals)} originals + {len(unrelated)} unrelated videos in the archive, "
          f"{len(index)} keyframe hashes; threshold Hamming <= 8, found = top-1 and score >= {MIN_SCORE}\n")

    print("## Recall of transformed copies\n")
    print("| transform | " + " | ".join(f"{o}: found, score, offset s" for o in originals) + " |")
    print("|---|" + "---|" * len(originals))
    found_total = n_total = 0
    fingerprints = {}
    per_transform: dict[str, list[str]] = {}
    for oname in originals:
        for tname, p in copies[oname].items():
            fp = fingerprint_file(p)
            fingerprints[(oname, tname)] = fp
            ms = match_keyframes(fp, index)
            top = ms[0] if ms else None
            ok = bool(top and top.video_id == oname and top.score >= MIN_SCORE)
            found_total += ok
            n_total += 1
            cell = (f"{'yes' if ok else 'NO'}, {top.score:.2f} ({top.aligned}/{top.total}), {top.offset:+.2f}"
                    if top else "NO, no candidate")
            per_transform.setdefault(tname, []).append(cell)
    for tname, cells in per_transform.items():
        print(f"| {tname} | " + " | ".join(cells) + " |")
    print(f"\nrecall: {found_total}/{n_total} = {found_total / n_total:.2f}")

    print("\n## False matches (unrelated videos queried against the archive, themselves excluded)\n")
    print("| query | keyframes | best other video (score) | false match (score >= threshold) |\n|---|---|---|---|")
    false = 0
    for vid, p in unrelated.items():
        fp = fingerprint_file(p)
        ms = match_keyframes(fp, index, exclude=[vid])
        best = f"{ms[0].video_id} ({ms[0].score:.2f})" if ms else "none"
        is_false = bool(ms and ms[0].score >= MIN_SCORE)
        false += is_false
        print(f"| {vid} | {len(fp)} | {best} | {'YES' if is_false else 'no'} |")
    for oname in originals:
        ms = match_keyframes(results[oname].keyframes, index, exclude=[oname])
        best = f"{ms[0].video_id} ({ms[0].score:.2f})" if ms else "none"
        is_false = bool(ms and ms[0].score >= MIN_SCORE)
        false += is_false
        print(f"| {oname} (original vs the rest) | {len(results[oname].keyframes)} | {best} | {'YES' if is_false else 'no'} |")
    print(f"\nfalse matches: {false}")

    print("\n## Query time (real keyframes + random 64-bit hashes; 2 cores, numpy)\n")
    print("| stored hashes | build s | single lookup mean ms | p95 ms | hashes within 8 / lookup | whole-video query ms (keyframes x variants) | copy still found |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    base_v = np.array([index._vid_of[r[0]] for r in rows if r[2]], np.int32)
    base_t = np.array([r[1] for r in rows if r[2]])
    base_h = np.array([r[2] for r in rows if r[2]], np.uint64)
    ids = list(index.video_ids)
    q_fp = fingerprints[("orig_textured", "crop 10 %")]
    for n in (10_000, 100_000, 1_000_000):
        extra = n - len(base_h)
        rand = (rng.integers(0, 2**63, extra, dtype=np.int64).astype(np.uint64) << np.uint64(1)) | rng.integers(0, 2, extra).astype(np.uint64)
        vids = np.concatenate([base_v, (np.arange(extra) // 25 + len(ids)).astype(np.int32)])
        t0 = time.perf_counter()
        big = HashIndex.from_arrays(vids, np.concatenate([base_t, np.zeros(extra)]), np.concatenate([base_h, rand]),
                                    video_ids=ids + [f"random{i}" for i in range(int(vids.max()) + 1 - len(ids))])
        big.lookup(1)
        build_s = time.perf_counter() - t0
        queries = [int(h) for h in rng.choice(base_h, 200)] + [int(x) for x in rng.integers(1, 2**63, 200, dtype=np.int64)]
        times = []
        cands = []
        for q in queries:
            t = time.perf_counter()
            pos, _ = big.lookup(q)
            times.append((time.perf_counter() - t) * 1000)
            cands.append(len(pos))
        vt = []
        for _ in range(5):
            t = time.perf_counter()
            ms = match_keyframes(q_fp, big)
            vt.append((time.perf_counter() - t) * 1000)
        n_var = sum(1 + len(set((f.phash_mirror, *f.alt, *f.alt_mirror))) for f in q_fp)
        ok = ms and ms[0].video_id == "orig_textured"
        p95 = sorted(times)[int(0.95 * len(times))]
        print(f"| {n:,} | {build_s:.2f} | {statistics.mean(times):.2f} | {p95:.2f} | {statistics.mean(cands):.1f} | "
              f"{min(vt):.0f} ({len(q_fp)} x ~{n_var / max(len(q_fp), 1):.0f} hashes) | {'yes' if ok else 'NO'} |")


if __name__ == "__main__":
    main()
