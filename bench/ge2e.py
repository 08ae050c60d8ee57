"""The GE2E speaker encoder in numpy (what the speakers stage runs) against the same network in torch.

    python bench/ge2e.py [--windows 300] [--repeat 3]

Real speech: pocketsphinx-testdata's LibriVox recordings (bash ../shared/media/fetch.sh), joined and raised to
-30 dBFS, cut into 1.6 s windows every 0.75 s as the speakers stage does. Both sides embed the same windows in
batches, on ONE BLAS/intra-op thread (the ingest runs Whisper beside the speakers stage on a 2-core machine), and
are timed in this process, each after a warm-up call. Printed: CPU and wall seconds per side (best of --repeat),
windows per CPU second, the largest absolute difference between the embeddings and the smallest cosine between
a window's two embeddings, and the cost of loading each (torch's import + torch.load against the numpy reader).
Torch is the tool a user would otherwise pick (Resemblyzer's own VoiceEncoder runs this network with torch).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MEDIA = Path(os.environ.get("CLIPWATCH_REAL_MEDIA", ROOT.parent / "media"))
if not MEDIA.is_dir() and Path("/work/media").is_dir():
    MEDIA = Path("/work/media")


def speech(seconds: float) -> np.ndarray:
    """Real read speech (LibriVox), joined until ``seconds`` long."""
    from pipeline.media.audio import load_audio

    files = sorted((MEDIA / "speech" / "librivox").glob("*.wav"))
    if not files:
        sys.exit(f"no real media under {MEDIA}: run bash ../shared/media/fetch.sh {MEDIA}")
    parts, total = [], 0
    while total < seconds * 16000:
        for f in files:
            parts.append(load_audio(f))
            total += len(parts[-1])
    return np.concatenate(parts)[: int(seconds * 16000)]


def load_cost(code: str) -> tuple[float, float]:
    """CPU seconds (wait4) and peak RSS (MB: the child's own VmHWM, which a forked child's ru_maxrss is not) of a
    fresh interpreter that runs ``code``."""
    hwm = "; print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen([sys.executable, "-c", code + hwm], cwd=ROOT, stdout=out, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        _pid, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{code!r} failed")
        out.seek(0)
        return usage.ru_utime + usage.ru_stime, int(out.read().split()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--windows", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()

    from pipeline.speakers import ge2e

    step = 12000  # 0.75 s
    y = speech((args.windows * step + 25600) / 16000 + 1)
    starts = np.arange(args.windows) * step
    gain = ge2e.volume_gain(y)
    enc = ge2e.GE2EEncoder(batch=args.batch)

    def numpy_side() -> np.ndarray:
        return enc.embed_windows(y, starts, gain=gain)

    import torch
    from torch import nn

    class Net(nn.Module):  # the network as the speakers stage ran it with torch before (Resemblyzer's VoiceEncoder)
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(ge2e.N_MELS, 256, 3, batch_first=True)
            self.linear = nn.Linear(256, 256)

        def forward(self, mels):
            _, (hidden, _) = self.lstm(mels)
            e = torch.relu(self.linear(hidden[-1]))
            return e / torch.clamp(torch.norm(e, dim=1, keepdim=True), min=1e-9)

    net = Net()
    state = torch.load(ge2e.weights_path(), map_location="cpu", weights_only=True)["model_state"]
    net.load_state_dict({k: v for k, v in state.items() if k.split(".")[0] in ("lstm", "linear")})
    net.eval()
    torch.set_num_threads(1)

    def torch_side() -> np.ndarray:
        frames = starts // ge2e.HOP
        mel = ge2e.mel_spectrogram(ge2e.normalize_volume(y[: (int(frames.max()) + ge2e.PARTIAL_FRAMES) * ge2e.HOP]))
        mels = np.stack([mel[f:f + ge2e.PARTIAL_FRAMES] for f in frames])
        with torch.inference_mode():
            return np.concatenate([net(torch.from_numpy(np.ascontiguousarray(mels[b:b + args.batch]))).numpy()
                                   for b in range(0, len(mels), args.batch)])

    results = {}
    for name, fn in (("numpy (clipwatch)", numpy_side), ("torch nn.LSTM", torch_side)):
        fn()  # warm-up
        best_cpu = best_wall = float("inf")
        for _ in range(args.repeat):
            c0, w0 = time.process_time(), time.perf_counter()
            out = fn()
            best_cpu, best_wall = min(best_cpu, time.process_time() - c0), min(best_wall, time.perf_counter() - w0)
        results[name] = (best_cpu, best_wall, out)
    a, b = results["numpy (clipwatch)"][2], results["torch nn.LSTM"][2]
    np_load = load_cost("from pipeline.speakers import ge2e; ge2e.GE2EEncoder()")
    torch_load = load_cost("import torch; from pipeline.speakers import ge2e; "
                           "torch.load(ge2e.weights_path(), map_location='cpu', weights_only=True)")

    print(f"bench/ge2e.py: {args.windows} windows of real speech (LibriVox), batch {args.batch}, one thread; "
          f"load {os.getloadavg()[0]:.1f}\n")
    print("| side | CPU s | wall s | windows / CPU s |\n|---|---|---|---|")
    for name, (cpu, wall, _) in results.items():
        print(f"| {name} | {cpu:.2f} | {wall:.2f} | {args.windows / cpu:.0f} |")
    print(f"\nnumpy / torch CPU: {results['numpy (clipwatch)'][0] / results['torch nn.LSTM'][0]:.2f}x; "
          f"max |diff| {np.abs(a - b).max():.2e}; min cosine {float((a * b).sum(axis=1).min()):.7f}")
    print(f"loading the encoder in a fresh process: numpy reader {np_load[0]:.2f} s CPU, {np_load[1]:.0f} MB peak RSS; "
          f"torch import + torch.load {torch_load[0]:.2f} s CPU, {torch_load[1]:.0f} MB peak RSS")


if __name__ == "__main__":
    main()
