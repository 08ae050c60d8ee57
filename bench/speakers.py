"""Who speaks (issue 24): diarisation error rate, voice-search MAP, cost against Whisper, and voice queries at scale.

Everything runs on real recordings from the shared media set (bash ../shared/media/fetch.sh; CLIPWATCH_REAL_MEDIA
points elsewhere), through the pipeline's own code (``pipeline.speakers.diarize`` with the audio profile, as the
stage runs it):

- **Voices**: asterisk-core-sounds-en / -fr / -es (one narrator each), pocketsphinx-testdata's LibriVox reader and
  its "cards" speaker, gradio's media_assets (two Cate Blanchett recordings, one Heath Ledger), opencv-doc's
  Megamind.avi (a film clip; used as a distractor voice only).
- **DER** (collar 0.25 s, no overlap in the data, optimal speaker mapping): conversations of 2, 3 and 4 speakers
  built by concatenating each speaker's real recordings (trimmed to their speech by level) with 0.3–1.2 s pauses.
  Two folds by speaker: fold A = {asterisk_en, asterisk_fr, librivox, cards}, fold B = {asterisk_es, cate, heath,
  megamind}; the clustering threshold is tuned on one fold's conversations and the DER reported on the other's.
- **MAP**: each speaker's recordings (about 10–15 s each, disjoint files) are run through the pipeline; every
  recording's main voice is a query, the others are ranked by centroid similarity; a query's relevant items are the
  same speaker's other recordings.
- **Cost**: the speakers stage's work (``diarize``) against Whisper's transcription (faster-whisper, the default
  model, as the transcribe stage runs it) on bench/e2e.py's clip (real footage under LibriVox + Asterisk speech).
- **--ann**: voice queries against 100,000 stored voices (the real voices above plus synthetic vectors around
  them), p50/p95 query time of ``VoiceIndex.search``.

usage: python bench/speakers.py [--quick] [--ann] [--cost]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MEDIA = Path(os.environ.get("CLIPWATCH_REAL_MEDIA", ROOT.parent / "media"))
SR = 16000
COLLAR = 0.25


def load(path: Path) -> np.ndarray:
    from pipeline.media.probe import ffmpeg_exe

    raw = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "quiet", "-i", str(path), "-vn", "-ac", "1", "-ar", str(SR),
                          "-f", "f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32).copy()


def trim(y: np.ndarray, db: float = 35.0) -> np.ndarray:
    """The recording from its first to its last 10 ms frame within ``db`` of its loudest (its speech extent)."""
    n = len(y) // 160
    if n == 0:
        return y
    e = 10 * np.log10(np.mean(y[: n * 160].reshape(n, 160) ** 2, axis=1) + 1e-12)
    on = np.flatnonzero(e > e.max() - db)
    return y[on[0] * 160:(on[-1] + 1) * 160] if len(on) else y[:0]


def speakers() -> dict[str, list[Path]]:
    sp = MEDIA / "speech"
    out = {
        "asterisk_en": sorted((sp / "asterisk_en").glob("*.wav")),
        "asterisk_fr": sorted((sp / "asterisk_fr").glob("*.wav")),
        "asterisk_es": sorted((sp / "asterisk_es").glob("*.wav")),
        "librivox": sorted((sp / "librivox").glob("*.wav")),
        "cards": sorted((sp / "cards").glob("*.wav")),
        "cate": sorted((sp / "unlabelled").glob("cate_blanch*")),
        "heath": sorted((sp / "unlabelled").glob("heath*")),
        "megamind": sorted((MEDIA / "video").glob("Megamind.avi")),
    }
    missing = [k for k, v in out.items() if not v]
    if missing:
        sys.exit(f"no real media for {missing} under {MEDIA}: run bash ../shared/media/fetch.sh {MEDIA}")
    return out


# Megamind.avi is a film scene (several characters, music): no single-speaker truth, so a distractor voice for MAP only.
FOLDS = {"A": ("asterisk_en", "asterisk_fr", "librivox", "cards"), "B": ("asterisk_es", "cate", "heath")}


class Pool:
    """Trimmed utterances per speaker, loaded once (long Asterisk folders: the first 60 files with > 0.8 s)."""

    def __init__(self, files: dict[str, list[Path]]):
        self.utts: dict[str, list[np.ndarray]] = {}
        for name, paths in files.items():
            utts = []
            for p in paths:
                y = trim(load(p))
                if len(y) >= 0.8 * SR:
                    utts.append(y)
                if len(utts) >= 60:
                    break
            self.utts[name] = utts


def conversation(pool: Pool, names: list[str], rnd: random.Random, turns: int = 10):
    """(samples, reference turns) of ``turns`` turns among ``names`` (no speaker twice in a row)."""
    parts, ref, t, last = [np.zeros(int(0.5 * SR), np.float32)], [], 0.5, None
    for _ in range(turns):
        who = rnd.choice([n for n in names if n != last])
        last = who
        utts = pool.utts[who]
        # one turn: 2–6 s of that speaker (several short utterances joined with short pauses, as one turn)
        want, got = rnd.uniform(2.0, 6.0), []
        while sum(len(u) for u in got) < want * SR:
            got.append(utts[rnd.randrange(len(utts))])
            if len(got) >= 6:
                break
        for k, u in enumerate(got):
            ref.append((t, t + len(u) / SR, who))
            parts.append(u)
            t += len(u) / SR
            gap = 0.15 if k < len(got) - 1 else rnd.uniform(0.3, 1.2)
            parts.append(np.zeros(int(gap * SR), np.float32))
            t += int(gap * SR) / SR
    return np.concatenate(parts), ref


def der(ref: list[tuple[float, float, str]], hyp: list[tuple[float, float, str]], duration: float,
        collar: float = COLLAR, step: float = 0.01) -> tuple[float, float]:
    """(DER, scored speech seconds): frame-level, ``collar`` seconds either side of each reference boundary not
    scored, reference and hypothesis speakers mapped one-to-one to maximise agreement (Hungarian)."""
    from scipy.optimize import linear_sum_assignment

    n = int(np.ceil(duration / step)) + 1
    rnames = sorted({r[2] for r in ref})
    hnames = sorted({h[2] for h in hyp})
    R = np.full(n, -1)
    H = np.full(n, -1)
    scored = np.ones(n, bool)
    for a, b, s in ref:
        R[int(round(a / step)):int(round(b / step))] = rnames.index(s)
        for edge in (a, b):
            scored[max(0, int(round((edge - collar) / step))):int(round((edge + collar) / step))] = False
    for a, b, s in hyp:
        H[int(round(a / step)):int(round(b / step))] = hnames.index(s)
    R, H = R[scored], H[scored]
    total = float((R >= 0).sum())
    miss = float(((R >= 0) & (H < 0)).sum())
    fa = float(((R < 0) & (H >= 0)).sum())
    both = (R >= 0) & (H >= 0)
    agree = 0.0
    if hnames and both.any():
        m = np.zeros((len(rnames), len(hnames)))
        np.add.at(m, (R[both], H[both]), 1)
        ri, hi = linear_sum_assignment(-m)
        agree = float(m[ri, hi].sum())
    conf = float(both.sum()) - agree
    return (miss + fa + conf) / max(total, 1.0), total * step


def run_der(pool: Pool, encoder, fold: tuple[str, ...], grid: list[tuple[float, float, float]], per_k: int, seed: int):
    """{(threshold, merge, min_s): {k: (DER, speech seconds, mean abs speaker-count error)}} for k = 2..len(fold)."""
    from pipeline.media.profile import analyse_array
    from pipeline.speakers import diarize as dz

    rnd = random.Random(seed)
    convs = []
    for k in range(2, len(fold) + 1):
        for _ in range(per_k):
            names = rnd.sample(list(fold), k)
            y, ref = conversation(pool, names, rnd)
            convs.append((k, y, ref, dz.embed(y, encoder, analyse_array(y))))
    out: dict[tuple, dict[int, tuple]] = {}
    for th in grid:
        acc: dict[int, list[float]] = {}
        for k, y, ref, w in convs:
            d = dz.assign(w, threshold=th[0], merge_sim=th[1], min_speaker_s=th[2], segment_s=th[3])
            e, tot = der(ref, [(t.start, t.end, t.speaker) for t in d.turns], len(y) / SR)
            a = acc.setdefault(k, [0.0, 0.0, 0.0])  # error-weighted: sum(err*tot), sum(tot), n speakers found
            a[0] += e * tot
            a[1] += tot
            a[2] += abs(len(d.voices) - k)
        out[th] = {k: (a[0] / a[1], a[1], a[2] / per_k) for k, a in acc.items()}
    return out


def overall(res: dict[int, tuple[float, float, float]]) -> float:
    return sum(v[0] * v[1] for v in res.values()) / sum(v[1] for v in res.values())


def recordings(pool: Pool, files: dict[str, list[Path]], seconds: float = 12.0) -> list[tuple[str, np.ndarray]]:
    """Disjoint recordings of about ``seconds`` per speaker (a short voice: one recording of what there is)."""
    out = []
    for name, utts in pool.utts.items():
        cur, acc = [], 0.0
        for u in utts:
            cur.append(u)
            cur.append(np.zeros(int(0.4 * SR), np.float32))
            acc += len(u) / SR
            if acc >= seconds:
                out.append((name, np.concatenate(cur)))
                cur, acc = [], 0.0
            if sum(1 for n, _ in out if n == name) >= 6:
                break
        if cur and (acc >= 3.0 or not any(n == name for n, _ in out)):
            out.append((name, np.concatenate(cur)))
    return out


def run_map(pool: Pool, encoder, files, threshold: float):
    from pipeline.media.profile import analyse_array
    from pipeline.speakers import diarize as dz

    recs = recordings(pool, files)
    items = []
    for name, y in recs:
        d = dz.diarize(y, encoder, analyse_array(y), threshold=threshold)
        if not d.voices:
            continue
        main = max(d.voices, key=lambda v: v.seconds)
        items.append((name, main.embedding, main.seconds))
    E = np.stack([e for _, e, _ in items])
    names = [n for n, _, _ in items]
    S = E @ E.T
    aps, per = [], {}
    same_s, diff_s = [], []
    for i, n in enumerate(names):
        others = [j for j in range(len(names)) if j != i]
        rel = [names[j] == n for j in others]
        for j in others:
            (same_s if names[j] == n else diff_s).append(S[i, j])
        if not any(rel):
            continue
        order = np.argsort(-S[i, others])
        hits, prec = 0, []
        for rank, o in enumerate(order, 1):
            if rel[o]:
                hits += 1
                prec.append(hits / rank)
        ap = float(np.mean(prec))
        aps.append(ap)
        per.setdefault(n, []).append(ap)
    return float(np.mean(aps)), {k: float(np.mean(v)) for k, v in per.items()}, len(items), same_s, diff_s, \
        {n: names.count(n) for n in set(names)}


def run_cost(encoder, minutes: float) -> dict:
    sys.path.insert(0, str(ROOT / "bench"))
    import e2e  # noqa: E402  (bench/e2e.py's clip)

    from pipeline.asr import transcribe
    from pipeline.config import Settings
    from pipeline.media.profile import analyse_array
    from pipeline.speakers import diarize as dz

    clip = e2e.build_clips(1, minutes)[0]
    y = load(clip)
    prof = analyse_array(y)
    s = Settings()
    transcribe(y[: 5 * SR], model=s.model, engine=s.engine, models_dir=s.models_dir)  # model load, not timed
    t0 = time.perf_counter()
    tr = transcribe(y, model=s.model, engine=s.engine, models_dir=s.models_dir, word_timestamps=True)
    whisper_s = time.perf_counter() - t0
    dz.diarize(y[: 5 * SR], encoder, None)  # warm (Silero, weights)
    t0 = time.perf_counter()
    d = dz.diarize(y, encoder, prof)
    spk_s = time.perf_counter() - t0
    return {"clip": clip.name, "audio_s": len(y) / SR, "model": s.model, "whisper_s": whisper_s, "speakers_s": spk_s,
            "ratio": spk_s / whisper_s, "segments": len(tr.segments), "voices": len(d.voices)}


def run_ann(real: np.ndarray, n: int = 100_000, queries: int = 200) -> dict:
    from pipeline.speakers.index import VoiceIndex, build

    rnd = np.random.default_rng(0)
    base = real[rnd.integers(0, len(real), n)] + rnd.normal(0, 0.08, (n, real.shape[1])).astype(np.float32)
    base = np.abs(base)  # GE2E embeddings are non-negative (ReLU before the norm)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    t0 = time.perf_counter()
    idx = VoiceIndex([(f"v{i}", "S1", 30.0) for i in range(n)], build(base.astype(np.float32)), "ge2e")
    build_s = time.perf_counter() - t0
    qs = base[rnd.integers(0, n, queries)]
    times, found = [], []
    for q in qs:
        t0 = time.perf_counter()
        found.append(idx.search(q, 10)[0])
        times.append((time.perf_counter() - t0) * 1000)
    exact = (qs @ base.T).argsort(axis=1)[:, ::-1][:, :10]
    recall = np.mean([len({f"v{i}" for i in e} & {r[0] for r in got}) / 10 for e, got in zip(exact, found)])
    return {"voices": n, "build_s": build_s, "p50_ms": float(np.percentile(times, 50)),
            "p95_ms": float(np.percentile(times, 95)), "recall": float(recall), "kind": type(idx.ann).__name__}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer conversations")
    ap.add_argument("--cost", action="store_true", help="also time against Whisper on bench/e2e.py's clip")
    ap.add_argument("--cost-minutes", type=float, default=1.0)
    ap.add_argument("--ann", action="store_true", help="also time voice queries at 100,000 voices")
    ap.add_argument("--ann-only", action="store_true", help="only the voice-query timing")
    args = ap.parse_args()
    from pipeline.speakers.base import get_encoder

    encoder = get_encoder()
    files = speakers()
    t0 = time.perf_counter()
    if args.ann_only:
        files = {k: v[:10] for k, v in files.items()}
    pool = Pool(files)
    if args.ann_only:
        a = run_ann(np.stack(list(_real_voices(pool, encoder))))
        print(f"Voice query at {a['voices']:,} voices ({a['kind']}): index build {a['build_s']:.2f} s; "
              f"query p50 {a['p50_ms']:.1f} ms, p95 {a['p95_ms']:.1f} ms; recall@10 against the exact scan {a['recall']:.3f}")
        return
    print(f"encoder {encoder.version}; utterances per speaker: " +
          ", ".join(f"{k} {len(v)}" for k, v in pool.utts.items()), flush=True)
    per_k = 3 if args.quick else 6
    grid = [(t, m, 4.0, g) for g in (2.0, 3.0, 5.0) for t in (0.20, 0.25, 0.30, 0.35, 0.40) for m in (0.85, 1.01)]
    results = {f: run_der(pool, encoder, FOLDS[f], grid, per_k, seed=ord(f)) for f in FOLDS}
    print("\nDER (collar 0.25 s) by parameters (segment threshold, centroid merge similarity, least speaker seconds,"
          " longest segment; merge 1.01 = no merging), all conversations of a fold:")
    print("| threshold | merge | min s | segment s | " + " | ".join(f"fold {f}" for f in FOLDS) + " |\n|---|---|---|---|"
          + "---|" * len(FOLDS))
    for th in grid:
        print(f"| {th[0]:.2f} | {th[1]:.2f} | {th[2]:.0f} | {th[3]:.0f} | "
              + " | ".join(f"{overall(results[f][th]):.1%}" for f in FOLDS) + " |")
    print("\nHeld-out DER: threshold tuned on the other fold")
    print("| tuned on | (threshold, merge, min s, segment s) | reported on | speakers | conversations | speech s | DER | mean abs speaker-count error |")
    print("|---|---|---|---|---|---|---|---|")
    chosen = {}
    for tune, test in (("A", "B"), ("B", "A")):
        th = min(grid, key=lambda t: overall(results[tune][t]))
        chosen[tune] = th
        for k, (e, tot, cerr) in sorted(results[test][th].items()):
            print(f"| {tune} | {th} | {test} | {k} | {per_k} | {tot:.0f} | {e:.1%} | {cerr:.2f} |")
        print(f"| {tune} | {th} | {test} | all | {per_k * len(results[test][th])} | "
              f"{sum(v[1] for v in results[test][th].values()):.0f} | {overall(results[test][th]):.1%} | |")
    from pipeline.speakers.diarize import THRESHOLD

    m, per, n_items, same_s, diff_s, counts = run_map(pool, encoder, files, THRESHOLD)
    print(f"\nVoice search (threshold {THRESHOLD}): {n_items} recordings "
          f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); MAP {m:.3f}")
    print("per speaker AP: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(per.items())))
    same_s, diff_s = np.array(same_s), np.array(diff_s)
    print(f"centroid similarity: same voice min {same_s.min():.3f} p5 {np.percentile(same_s, 5):.3f} mean {same_s.mean():.3f}; "
          f"different voices max {diff_s.max():.3f} p95 {np.percentile(diff_s, 95):.3f} mean {diff_s.mean():.3f}")
    for th in (0.70, 0.75, 0.80, 0.85):
        print(f"  match at >= {th:.2f}: same-voice pairs found {np.mean(same_s >= th):.1%}, "
              f"different-voice pairs reported {np.mean(diff_s >= th):.1%}")
    print(f"(DER and MAP wall: {time.perf_counter() - t0:.0f} s)", flush=True)
    if args.cost:
        c = run_cost(encoder, args.cost_minutes)
        print(f"\nCost on {c['clip']} ({c['audio_s']:.0f} s audio): Whisper {c['model']} {c['whisper_s']:.1f} s, "
              f"speakers {c['speakers_s']:.2f} s = {c['ratio']:.1%} of Whisper ({c['voices']} voices)")
    if args.ann:
        real = np.stack([v for v in _real_voices(pool, encoder)])
        a = run_ann(real)
        print(f"\nVoice query at {a['voices']:,} voices ({a['kind']}): index build {a['build_s']:.2f} s; "
              f"query p50 {a['p50_ms']:.1f} ms, p95 {a['p95_ms']:.1f} ms; recall@10 against the exact scan {a['recall']:.3f}")


def _real_voices(pool: Pool, encoder):
    for name, utts in pool.utts.items():
        for u in utts[:10]:
            e = encoder.embed_windows(u, np.array([0])).mean(axis=0)
            yield e / np.linalg.norm(e)


if __name__ == "__main__":
    main()
