"""Shots and keyframes with OpenCV. Contract: ``extract_keyframes(path, out_dir) -> KeyframeResult``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Shot:
    index: int
    start: float  # seconds
    end: float


@dataclass
class Keyframe:
    shot_index: int
    shot_start: float
    shot_end: float
    time: float
    path: str  # JPEG path (relative to out_dir's parent when stored)
    phash: int  # unsigned 64-bit perceptual hash


@dataclass
class KeyframeResult:
    shots: list[Shot] = field(default_factory=list)
    keyframes: list[Keyframe] = field(default_factory=list)
    detector: str = ""
    tool_version: str = ""
    duration: float = 0.0
    frames_decoded: int = 0
