"""Every extension point's registry, checked as a contract: whatever is registered must honour its protocol.

A new detector, engine, source, stage or storage backend gets these checks for free by being registered.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest

import pipeline
from pipeline.asr.base import ENGINES, Transcriber, engine_class
from pipeline.errors import ConfigError
from pipeline.shots.detectors import DETECTORS, Cut, Detector, make_detectors
from pipeline.sources.base import SOURCES, Source, source_for, sources
from pipeline.stages import STAGES, Stage
from pipeline.storage.base import BlobStore, Catalogue, iter_backends, open_blob_store, open_catalogue
from pipeline.translate.base import TRANSLATORS, Translator, translator_class


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_every_engine_is_a_transcriber_under_its_own_name(name):
    cls = engine_class(name)
    assert issubclass(cls, Transcriber) and cls.engine == name
    assert cls.default_compute_type in cls.compute_types


@pytest.mark.parametrize("kind", sorted(TRANSLATORS))
def test_every_translator_is_a_translator_under_its_own_name(kind):
    cls = translator_class(kind)
    assert issubclass(cls, Translator) and cls.kind == kind


def test_an_unknown_engine_is_a_clear_error():
    with pytest.raises(ConfigError, match="faster-whisper"):
        engine_class("whisper.cpp")


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_detector_finds_its_kind_of_boundary(name):
    """From every detector on its own: a hard colour cut at frame 30, or (fade) a dip to black over frames 25-34."""
    import numpy as np

    from pipeline.shots.detectors.base import SampledFrame

    det = make_detectors(name)[0]
    assert isinstance(det, Detector) and det.name == name
    cuts: list[Cut] = []
    for i in range(60):
        img = np.zeros((32, 32, 3), np.uint8)
        if name == "fade":
            img[:] = 0 if 25 <= i < 35 else 180
        else:
            img[:] = (200, 90, 10) if i < 30 else (10, 90, 200)
        cuts += det.process(SampledFrame(i, i / 25.0, img))
    cuts += det.flush()
    assert cuts, f"{name} found no boundary"
    lo, hi = (25, 35) if name == "fade" else (28, 32)
    assert any(lo <= c.index <= hi for c in cuts), cuts


def test_every_source_is_a_source_and_the_first_that_accepts_wins(tmp_path):
    assert len(sources()) == len(SOURCES)
    assert all(isinstance(s, Source) and s.name for s in sources())
    assert source_for("https://www.youtube.com/@kctv").name == "yt-dlp"
    assert source_for(str(tmp_path)).name == "local"


def test_stages_have_unique_names_in_pipeline_order():
    names = [cls.name for cls in STAGES]
    assert all(issubclass(cls, Stage) for cls in STAGES)
    assert len(set(names)) == len(names)
    assert names.index("audio") < names.index("transcribe") < names.index("tag")


def test_every_storage_backend_honours_its_protocol(tmp_path):
    kinds = {(k, s) for k, s, _ in iter_backends()}
    assert ("blob", "file") in kinds and ("catalogue", "sqlite") in kinds
    blobs = open_blob_store(tmp_path / "archive")
    assert isinstance(blobs, BlobStore)
    cat = open_catalogue(tmp_path / "clipwatch.db")
    try:
        assert isinstance(cat, Catalogue)
    finally:
        cat.close()
    with pytest.raises(ConfigError, match="unknown"):
        open_blob_store("gopher://archive")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_sql_lives_under_storage_only():
    """No module outside pipeline/storage/ talks SQL to the catalogue (issue 10: one place for every query)."""
    root = Path(pipeline.__file__).parent
    offenders = []
    for py in root.rglob("*.py"):
        rel = py.relative_to(root).as_posix()
        if rel.startswith("storage/"):
            continue
        text = py.read_text(encoding="utf-8")
        if ".db.execute(" in text or "sqlite3" in _imports(py):
            offenders.append(rel)
    assert offenders == [], f"SQL outside pipeline/storage/: {offenders}"


def test_every_module_imports_on_its_own():
    """No import cycles: each module can be the first one imported."""
    import subprocess
    import sys

    names = [m.name for m in pkgutil.walk_packages(pipeline.__path__, "pipeline.")
             if not m.name.endswith("__main__")]
    code = ("import importlib, sys\nbad = []\nfor n in sys.argv[1:]:\n"
            "    for k in [k for k in sys.modules if k.startswith('pipeline')]: del sys.modules[k]\n"
            "    try: importlib.import_module(n)\n    except Exception as e: bad.append(f'{n}: {e!r}')\n"
            "print('\\n'.join(bad))")
    out = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout + out.stderr


def test_every_tagging_signal_sets_only_its_own_features_with_evidence():
    """Each registered signal, on a video that gives every signal something to say."""
    from pipeline.asr import Segment, Transcript
    from pipeline.media.profile import AudioProfile
    from pipeline.tagging.model import FEATURES, TaggingInput
    from pipeline.tagging.signals.base import signals

    speech = Transcript("en", 1.0, 60.0, "m", "e", "v", segments=[
        Segment(0, 5, "The Supreme Leader inspected the nuclear deterrent, officials said.")])
    inp = TaggingInput(title="Evening news: the Supreme Leader", description="", channel="KCTV", channel_url=None,
                       uploader=None, webpage_url="http://www.kcna.kp/en/video/1", platform_tags=["news"],
                       categories=["News & Politics"], transcript=speech)
    audio = AudioProfile(duration=60.0, music=0.2, speech=0.7, silence=0.1)
    names = [s.name for s in signals()]
    assert len(set(names)) == len(names)
    for sig in signals():
        out = sig.extract(inp, audio)
        assert out, f"{sig.name} said nothing about a video that gives it evidence"
        assert set(out) <= set(sig.features) <= set(FEATURES)
        assert all(isinstance(v, float) and why for v, why in out.values()), out
