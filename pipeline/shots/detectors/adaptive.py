"""Adaptive detector: the content score against its rolling neighbourhood.

Camera motion raises the content score for many frames in a row; a cut raises
it for one. Dividing each score by the mean of its neighbours (``window``
samples either side) keeps a pan or zoom quiet while a cut stands out.
"""

from __future__ import annotations

from collections import deque

from pipeline.shots.detectors.base import Cut, Detector, SampledFrame


class AdaptiveDetector(Detector):
    """Cut when score / mean(neighbour scores) >= ``ratio`` and score >= ``min_content``.

    Defaults follow PySceneDetect's AdaptiveDetector (window 2, ratio 3.0,
    min content value 15, 15 frames minimum shot length). The decision on a
    sample is made ``window`` samples later, so cuts arrive slightly late.
    """

    name = "adaptive"
    max_step = 2

    def __init__(self, ratio: float = 3.0, min_content: float = 15.0, window: int = 2, min_scene_len: int = 15):
        super().__init__(min_scene_len)
        self.ratio = ratio
        self.min_content = min_content
        self.window = window
        self._prev: SampledFrame | None = None
        # (index, time, score) of the last 2*window+1 scored samples: flat memory
        self._items: deque[tuple[int, float, float]] = deque(maxlen=2 * window + 1)
        self._n = 0  # scores seen
        self._judged = 0  # scores decided
        self._last_cut = -(10**9)

    def process(self, frame: SampledFrame) -> list[Cut]:
        prev, self._prev = self._prev, frame
        if prev is None:
            self._last_cut = frame.index
            return []
        self._items.append((frame.index, frame.time, self.content_score(prev, frame)))
        self._n += 1
        cuts: list[Cut] = []
        while self._judged <= self._n - 1 - self.window:  # has its right-hand neighbours
            cuts += self._judge(self._judged)
            self._judged += 1
        return cuts

    def flush(self) -> list[Cut]:
        cuts: list[Cut] = []
        while self._judged < self._n:
            cuts += self._judge(self._judged)
            self._judged += 1
        return cuts

    def _judge(self, k: int) -> list[Cut]:
        items = self._items
        pos = k - (self._n - len(items))
        index, time, score = items[pos]
        w = self.window
        neighbours = [items[i][2] for i in range(max(0, pos - w), min(len(items), pos + w + 1)) if i != pos]
        if score < self.min_content or index - self._last_cut < self.min_scene_len:
            return []
        avg = sum(neighbours) / len(neighbours) if neighbours else 0.0
        ratio = score / avg if avg > 1e-6 else float("inf")
        if ratio >= self.ratio:
            self._last_cut = index
            return [Cut(index, time, "cut", score)]
        return []
