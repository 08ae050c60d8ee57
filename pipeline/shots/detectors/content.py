"""Content detector: a cut where consecutive frames differ a lot in HSV."""

from __future__ import annotations

from pipeline.shots.detectors.base import Cut, Detector, SampledFrame


class ContentDetector(Detector):
    """Fires when the mean HSV difference to the previous sample reaches ``threshold``.

    Same measure and defaults as PySceneDetect's ContentDetector (threshold 27,
    15 frames minimum shot length). Fast camera motion can fire it: prefer the
    adaptive detector for real footage.
    """

    name = "content"
    max_step = 2

    def __init__(self, threshold: float = 27.0, min_scene_len: int = 15):
        super().__init__(min_scene_len)
        self.threshold = threshold
        self._prev: SampledFrame | None = None
        self._last_cut = -(10**9)

    def process(self, frame: SampledFrame) -> list[Cut]:
        prev, self._prev = self._prev, frame
        if prev is None:
            self._last_cut = frame.index
            return []
        score = self.content_score(prev, frame)
        if score >= self.threshold and frame.index - self._last_cut >= self.min_scene_len:
            self._last_cut = frame.index
            return [Cut(frame.index, frame.time, "cut", score)]
        return []
