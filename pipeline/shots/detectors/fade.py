"""Fade detector: fades to and from black (PySceneDetect's ThresholdDetector idea).

A frame is black when its mean luma is below ``threshold`` and it is nearly
uniform (a dark night scene has texture; a fade's black frames do not). A run
of black frames between two non-black ones is one transition; the cut is put
in the middle of the run.
"""

from __future__ import annotations

from pipeline.shots.detectors.base import BLACK_LUMA, BLACK_STD, Cut, Detector, SampledFrame, is_black


class FadeDetector(Detector):
    name = "fade"
    max_step = 4

    def __init__(self, threshold: float = BLACK_LUMA, max_std: float = BLACK_STD, min_scene_len: int = 15):
        super().__init__(min_scene_len)
        self.threshold = threshold
        self.max_std = max_std
        self._seen_content = False  # a non-black frame came before the current black run
        self._run_start: tuple[int, float] | None = None
        self._last_cut = -(10**9)

    def is_black(self, frame: SampledFrame) -> bool:
        return is_black(frame, self.threshold, self.max_std)

    def process(self, frame: SampledFrame) -> list[Cut]:
        if self.is_black(frame):
            if self._run_start is None:
                self._run_start = (frame.index, frame.time)
            return []
        cuts: list[Cut] = []
        if self._run_start is not None and self._seen_content:
            i0, t0 = self._run_start
            index = (i0 + frame.index) // 2
            time = t0 + (frame.time - t0) * ((index - i0) / max(frame.index - i0, 1))
            if index - self._last_cut >= self.min_scene_len:
                self._last_cut = index
                cuts.append(Cut(index, time, "fade", 255.0))
        self._run_start = None
        self._seen_content = True
        return cuts
