"""Shot boundary detectors, one per module, behind one interface (see ``base``).

``make_detectors("adaptive+fade")`` builds the detectors a spec names.
"""

from __future__ import annotations

from pipeline.registry import Registry
from pipeline.shots.detectors.adaptive import AdaptiveDetector
from pipeline.shots.detectors.base import Cut, Detector, SampledFrame, hsv_delta
from pipeline.shots.detectors.content import ContentDetector
from pipeline.shots.detectors.fade import FadeDetector

DETECTORS: Registry[type[Detector]] = Registry("detector", {
    "content": ContentDetector,
    "adaptive": AdaptiveDetector,
    "fade": FadeDetector,
})


def make_detectors(spec: str, min_scene_len: int = 15) -> list[Detector]:
    """Detectors named in ``spec``, joined by '+': 'adaptive', 'content+fade', ..."""
    names = [n.strip().lower() for n in spec.split("+") if n.strip()]
    if not names:
        raise ValueError("empty detector spec")
    unknown = [n for n in names if n not in DETECTORS]
    if unknown:
        raise ValueError(f"unknown detector {unknown[0]!r}: choose from {', '.join(DETECTORS)} (join with '+')")
    detectors = [DETECTORS[n](min_scene_len=min_scene_len) for n in dict.fromkeys(names)]
    if "fade" in names:
        for d in detectors:
            d.skip_black = d.name != "fade"
    return detectors


__all__ = ["AdaptiveDetector", "ContentDetector", "Cut", "DETECTORS", "Detector", "FadeDetector",
           "SampledFrame", "hsv_delta", "make_detectors"]
