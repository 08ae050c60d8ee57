"""Rebuild the bundled sample clips (run once by a developer; the outputs are committed).

    python pipeline/data/samples/make_samples.py

Needs espeak-ng and sox (Debian packages) besides clipwatch's own ffmpeg. The
clips are fictional stand-ins for state-media material: textured pictures with hard
cuts at known times, synthetic speech read from the scripts in samples.json,
and a synthesized instrumental melody. They are small (tens of kB) so the demo
and the tests run offline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from pipeline.media.probe import run_ffmpeg  # noqa: E402


def speech(text: str, out: Path, voice: str = "en-us", wpm: int = 140) -> None:
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(out), text], check=True)


def melody(out: Path, seconds: float) -> None:
    # A simple march in C major: plucked notes over a sustained chord, looped.
    notes = ["C4", "E4", "G4", "C5", "G4", "E4", "F4", "A4", "C5", "A4", "G4", "E4", "D4", "G4", "B4", "D5"]
    with tempfile.TemporaryDirectory() as tmp:
        parts = []
        for i, n in enumerate(notes):
            p = Path(tmp) / f"n{i:02d}.wav"
            subprocess.run(["sox", "-n", "-r", "22050", "-c", "1", str(p), "synth", "0.5", "pluck", n, "pluck", "C3", "gain", "-6"], check=True)
            parts.append(str(p))
        line = Path(tmp) / "line.wav"
        subprocess.run(["sox", *parts, str(line)], check=True)
        subprocess.run(["sox", str(line), str(out), "repeat", str(int(seconds // 8) + 1), "trim", "0", str(seconds), "fade", "0.2", str(seconds), "0.5"], check=True)


def duration(wav: Path) -> float:
    return float(subprocess.run(["soxi", "-D", str(wav)], capture_output=True, text=True, check=True).stdout)


# Points on the Mandelbrot set's boundary: richly textured pictures for perceptual hashing.
MANDELBROT_VIEWS = [(-0.743643887, 0.131825904, 0.01), (-0.16, 1.0405, 0.05), (-1.25066, 0.02012, 0.02),
                    (-0.748, 0.1, 0.03), (0.285, 0.01, 0.05), (-0.1011, 0.9563, 0.03), (-1.768, 0.0015, 0.02),
                    (-0.7453, 0.1127, 0.006), (-0.235125, 0.827215, 0.004), (0.001643721971153, -0.822467633298876, 0.01),
                    (-1.4011, 0.0, 0.01), (-0.10109636384562, 0.95628651080914, 0.008)]


def cards(out: Path, audio: Path, cut_times: list[float], total: float, clip_index: int) -> None:
    """Slowly zooming fractal views with hard cuts at cut_times, plus the audio, as small H.264/AAC MP4.

    Each shot of each clip shows its own textured view, so no two clips share a
    keyframe: re-upload matching must tell them apart.
    """
    bounds = [0.0, *cut_times, total]
    inputs: list[str] = []
    for i in range(len(bounds) - 1):
        x, y, scale = MANDELBROT_VIEWS[(4 * clip_index + i) % len(MANDELBROT_VIEWS)]
        inputs += ["-f", "lavfi", "-i", f"mandelbrot=s=256x144:r=25:start_x={x}:start_y={y}:start_scale={scale}:end_scale={scale / 2},"
                   f"trim=duration={bounds[i + 1] - bounds[i]:.3f}"]
    n = len(bounds) - 1
    concat = "".join(f"[{i}:v]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]"
    run_ffmpeg([
        *inputs, "-i", str(audio), "-filter_complex", concat, "-map", "[v]", "-map", f"{n}:a",
        "-c:v", "libx264", "-preset", "veryslow", "-crf", "38", "-pix_fmt", "yuv420p", "-g", "250",
        "-c:a", "aac", "-b:a", "32k", "-ac", "1", "-ar", "22050", "-shortest", "-movflags", "+faststart", str(out),
    ])


def main() -> None:
    meta = json.loads((HERE / "samples.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        for clip_index, clip in enumerate(meta["clips"]):
            wav = Path(tmp) / f"{clip['name']}.wav"
            if clip.get("script"):
                speech(clip["script"], wav, clip.get("voice", "en-us"))
            else:
                melody(wav, clip["seconds"])
            total = round(duration(wav), 3)
            cuts = [t for t in clip["cuts"] if t < total]
            cards(HERE / f"{clip['name']}.mp4", wav, cuts, total, clip_index)
            print(f"{clip['name']}.mp4: {total:.1f}s, cuts at {cuts}, {(HERE / (clip['name'] + '.mp4')).stat().st_size} bytes")


if __name__ == "__main__":
    main()
