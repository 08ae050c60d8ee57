"""The detector interface (PySceneDetect style).

A detector sees the sampled frames of one video in order, one ``SampledFrame``
at a time, and answers with the cuts it is sure of so far. It may answer late
(an adaptive detector needs a few frames after a cut to be sure); ``flush`` is
called once after the last frame. Detectors keep only a bounded window of
per-frame numbers, never frames, so memory stays flat whatever the length.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np


@dataclass(frozen=True)
class Cut:
    """A shot boundary: the new shot starts at sample ``index`` / time ``time``."""

    index: int  # index of the first frame of the new shot (in decoded-frame numbers)
    time: float  # seconds
    kind: str  # "cut" (hard cut) or "fade" (through black)
    score: float = 0.0


class SampledFrame:
    """One decoded, downscaled frame plus lazily computed features shared by detectors."""

    __slots__ = ("index", "time", "bgr", "__dict__")

    def __init__(self, index: int, time: float, bgr: np.ndarray):
        self.index = index  # frame number in the source (0-based, counts every decoded frame)
        self.time = time
        self.bgr = bgr  # small BGR image used for detection (long side ~128 px)

    @cached_property
    def hsv(self) -> np.ndarray:
        return cv2.cvtColor(self.bgr, cv2.COLOR_BGR2HSV)

    @cached_property
    def gray(self) -> np.ndarray:
        return cv2.cvtColor(self.bgr, cv2.COLOR_BGR2GRAY)

    @cached_property
    def luma_stats(self) -> tuple[float, float]:
        mean, std = cv2.meanStdDev(self.gray)
        return float(mean[0, 0]), float(std[0, 0])


class Detector(ABC):
    """Base class: subclasses set ``name`` and implement ``process``."""

    name: str = "base"
    #: the largest sampling step (in frames, at 25-30 fps) at which the detector still works
    max_step: int = 1

    def __init__(self, min_scene_len: int = 15):
        self.min_scene_len = min_scene_len  # in source frames
        #: leave transitions through black to the fade detector (set when both run)
        self.skip_black = False

    def content_score(self, prev: SampledFrame, frame: SampledFrame) -> float:
        """HSV content value; 0 next to a black frame when ``skip_black`` (hue and
        saturation of near-black pixels are noise, and the fade detector places
        those cuts in the middle of the black run)."""
        if self.skip_black and (is_black(prev) or is_black(frame)):
            return 0.0
        return hsv_delta(prev.hsv, frame.hsv)

    @abstractmethod
    def process(self, frame: SampledFrame) -> list[Cut]:
        """Feed the next sampled frame; return cuts now decided (in time order)."""

    def flush(self) -> list[Cut]:
        """No more frames: return cuts still pending."""
        return []


BLACK_LUMA = 16.0
BLACK_STD = 8.0


def is_black(frame: SampledFrame, threshold: float = BLACK_LUMA, max_std: float = BLACK_STD) -> bool:
    """Dark and nearly uniform: a fade's black frame (a dark scene has texture)."""
    mean, std = frame.luma_stats
    return mean < threshold and std < max_std


def hsv_delta(a: np.ndarray, b: np.ndarray) -> float:
    """PySceneDetect's content value: mean absolute H, S and V difference, averaged (0..255)."""
    d = cv2.absdiff(a, b)
    m = cv2.mean(d)
    return (m[0] + m[1] + m[2]) / 3.0
