"""scripts/architecture_report.py measures what issue 20 asks of the layout; here on small trees whose answer is known.

The repository's own contracts are checked by `lint-imports` in scripts/lint, not here: these tests check that the
report counts cycles, upward imports and imports inside functions right, and that LAYOUT.md's generator groups by
the layers contract.
"""

from __future__ import annotations

import runpy
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
report = runpy.run_path(str(ROOT / "scripts" / "architecture_report.py"))

PYPROJECT = """
[[tool.importlinter.contracts]]
id = "layers"
name = "layers"
type = "layers"
containers = ["pipeline"]
layers = ["cli", "stages", "asr | shots", "storage", "config : errors"]
"""


def write_tree(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    # cycle 1: asr.a <-> asr.b; cycle 2: stages -> storage -> stages (an upward import closes it);
    # shots -> asr is sideways inside an independent layer; config -> errors is allowed (":" layer);
    # pipeline.sources.fetch imports the package root (__version__), which closes no cycle.
    return write_tree(
        tmp_path / "tree",
        {
            "pipeline/__init__.py": '"""The library."""\n__version__ = "1"\n',
            "pipeline/cli/__init__.py": '"""The command."""\nimport flows.run\n',
            "pipeline/stages/__init__.py": '"""Stages."""\nfrom pipeline.storage import db\n',
            "pipeline/storage/__init__.py": "",
            "pipeline/storage/db.py": '"""The database.\n\nMore words."""\n'
            "def load():\n    from pipeline import stages  # upward, and inside a function\n    import json\n",
            "pipeline/asr/__init__.py": "",
            "pipeline/asr/a.py": "from pipeline.asr import b\n",
            "pipeline/asr/b.py": "from pipeline.asr import a\nfrom pipeline import config\n",
            "pipeline/shots/__init__.py": "from pipeline.asr import a\n",
            "pipeline/config.py": '"""Settings as data. Read from the environment."""\nfrom pipeline import errors\n',
            "pipeline/errors.py": '"""Errors."""\n',
            "pipeline/sources/__init__.py": "",
            "pipeline/sources/fetch.py": "from pipeline import __version__\n",
            "pipeline/web.py": '"""Not in any layer."""\nimport flows\n',
            "flows/__init__.py": "",
            "flows/run.py": "from pipeline import stages\n",
        },
    )


def test_counts_cycles_upward_imports_and_imports_in_functions(tree: Path):
    r = report["measure"](tree)
    assert r.cycles == [
        ["pipeline.asr.a", "pipeline.asr.b"],
        ["pipeline.stages", "pipeline.storage.db"],
    ]
    assert set(r.upward) == {
        ("pipeline.storage.db", "pipeline.stages", "upward"),
        ("pipeline.shots", "pipeline.asr.a", "between independent siblings"),
        ("pipeline.web", "flows", "library imports flows"),
    }
    # web and sources are in no layer of the contract
    assert r.unplaced == ["sources", "web"]
    assert r.function_imports_own == {"storage": 1}
    assert r.function_imports_third_party == 1
    assert r.rooms["asr"] == {"modules": 3, "lines": 3}
    assert r.largest[0] == ("pipeline.storage.db", 6)


def test_a_tree_without_cycles_or_upward_imports_reports_none(tree: Path):
    (tree / "pipeline/asr/b.py").write_text("from pipeline import config\n")
    (tree / "pipeline/storage/db.py").write_text("import json\n")
    (tree / "pipeline/shots/__init__.py").write_text("")
    (tree / "pipeline/web.py").write_text("")
    r = report["measure"](tree)
    assert r.cycles == []
    assert r.upward == []
    assert r.function_imports_own == {}
    text = report["render"](r)
    assert "import cycles between modules: 0" in text
    assert "imports against the layer order: 0 (none)" in text


def test_duplicated_blocks_are_counted_once_per_block(tmp_path: Path):
    block = "".join(f"x{i} = compute({i}) + {i}\n" for i in range(8))
    # the same long import and the same docstring in two modules are not duplicated code
    imports = "from pipeline.errors import (\n" + "".join(f"    Name{i},\n" for i in range(8)) + ")\n"
    doc = '"""' + "\n".join(f"Line {i} of a docstring." for i in range(8)) + '\n"""\n'
    tree = write_tree(
        tmp_path / "dup",
        {
            "pipeline/__init__.py": "",
            "pipeline/one.py": doc + imports + block + "y = 1\n",
            "pipeline/two.py": "# a copy\n" + block,
            "pipeline/three.py": doc + imports + "z = 2\n",
        },
    )
    groups, lines = report["duplicate_blocks"](report["module_files"](tree), 6)
    # one 8-line block, copied once: the windows at offsets 0..2 merge into one group, 8 copied lines
    assert (groups, lines) == (1, 8)


def test_layout_groups_rooms_by_layer_with_their_docstrings(tree: Path):
    md = report["layout_markdown"](tree)
    sections = [line for line in md.splitlines() if line.startswith("### ")]
    assert sections == [
        "### Layer 1: `cli`",
        "### Layer 2: `stages`",
        "### Layer 3: `asr`, `shots` (independent of each other)",
        "### Layer 4: `storage`",
        "### Layer 5: `config`, `errors`",
        "### Not in a layer",
    ]
    # the first sentence of a docstring, a module without one said so, a package shown as its folder
    assert "| `config.py` | Settings as data. |" in md
    assert "| `storage/db.py` | The database. |" in md
    assert "| `asr/a.py` | (no docstring) |" in md
    assert "| `cli/` | The command. |" in md
    assert md.index("`sources/fetch.py`") > md.index("### Not in a layer")


def test_the_repository_layers_contract_places_every_room():
    # the contract is exhaustive for lint-imports; the report reads the same contract and must find it
    container, layers = report["read_layers"](ROOT)
    assert container == "pipeline"
    members = [m for layer in layers for m in layer.members]
    assert members[:2] == ["testing", "cli"] and members[-1] == "errors"
    top = {p.name.removesuffix(".py") for p in (ROOT / "pipeline").iterdir()
           if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").exists()}
    assert top <= set(members), f"rooms in no layer of pyproject's contract: {sorted(top - set(members))}"


def test_measuring_another_tree_leaves_the_imported_library_alone(tree: Path):
    import pipeline.errors

    before = pipeline.errors.ClipwatchError
    report["measure"](tree)
    import pipeline.errors as again

    assert again.ClipwatchError is before
