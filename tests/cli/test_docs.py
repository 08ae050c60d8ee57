"""Docs that show command output are generated from the code (cog) and must still match it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cogapp import Cog

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ["docs/cli.md", "pipeline/LAYOUT.md"]


@pytest.mark.parametrize("doc", GENERATED)
def test_generated_docs_match_the_code(doc):
    cog = Cog()
    # --check: exit status 5 when regenerating would change the file; -r is never passed, so nothing is written.
    status = cog.main(["cog", "--check", str(ROOT / doc)])
    assert status == 0, f"{doc} is out of date with the code: run `cog -r {doc}`"
