"""Rebuild the bundled sample clips (run once by a developer; the outputs are committed).

    python data/samples/make_samples.py

Needs espeak-ng and sox (Debian packages) besides clipwatch's own ffmpeg. The
clips are fictional stand-ins for state-media material: colour cards with hard
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

from pipeline.media import run_ffmpeg  # noqa: E402

COLOURS = ["0x1f3a93", "0xc0392b", "0x27ae60", "0xf39c12", "0x8e44ad", "0x2c3e50"]


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


def cards(out: Path, audio: Path, cut_times: list[float], total: float) -> None:
    """Solid colour cards with hard cuts at cut_times, plus the audio, as small H.264/AAC MP4."""
    bounds = [0.0, *cut_times, total]
    inputs: list[str] = []
    for i in range(len(bounds) - 1):
        inputs += ["-f", "lavfi", "-i", f"color=c={COLOURS[i % len(COLOURS)]}:s=320x180:r=25:d={bounds[i + 1] - bounds[i]:.3f}"]
    n = len(bounds) - 1
    # A moving box on each card gives the encoder (and keyframe hashing) some structure.
    chains = ";".join(
        f"[{i}:v]drawbox=x=20+{i * 37 % 200}:y=30:w=80:h=60:color=white@0.8:t=fill,drawgrid=w=40:h=40:color=black@0.3[v{i}]" for i in range(n)
    )
    concat = "".join(f"[v{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]"
    run_ffmpeg([
        *inputs, "-i", str(audio), "-filter_complex", f"{chains};{concat}", "-map", "[v]", "-map", f"{n}:a",
        "-c:v", "libx264", "-preset", "veryslow", "-crf", "32", "-pix_fmt", "yuv420p", "-g", "250",
        "-c:a", "aac", "-b:a", "32k", "-ac", "1", "-ar", "22050", "-shortest", "-movflags", "+faststart", str(out),
    ])


def main() -> None:
    meta = json.loads((HERE / "samples.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        for clip in meta["clips"]:
            wav = Path(tmp) / f"{clip['name']}.wav"
            if clip.get("script"):
                speech(clip["script"], wav, clip.get("voice", "en-us"))
            else:
                melody(wav, clip["seconds"])
            total = round(duration(wav), 3)
            cuts = [t for t in clip["cuts"] if t < total]
            cards(HERE / f"{clip['name']}.mp4", wav, cuts, total)
            print(f"{clip['name']}.mp4: {total:.1f}s, cuts at {cuts}, {(HERE / (clip['name'] + '.mp4')).stat().st_size} bytes")


if __name__ == "__main__":
    main()
