"""Whole-number settings from the environment (pipeline.config.env_int): one reading, one error for every knob."""

from __future__ import annotations

import pytest

from pipeline.config import Settings, env_int
from pipeline.errors import ConfigError


def test_a_whole_number_setting_reads_its_default_its_value_and_refuses_the_rest(monkeypatch):
    monkeypatch.delenv("CLIPWATCH_TEST_KNOB", raising=False)
    assert env_int("CLIPWATCH_TEST_KNOB", 4, 1) == 4
    monkeypatch.setenv("CLIPWATCH_TEST_KNOB", "  ")
    assert env_int("CLIPWATCH_TEST_KNOB", None, 0) is None
    monkeypatch.setenv("CLIPWATCH_TEST_KNOB", " 7 ")
    assert env_int("CLIPWATCH_TEST_KNOB", 4, 1) == 7
    for bad in ("0", "-3", "two", "1.5"):
        monkeypatch.setenv("CLIPWATCH_TEST_KNOB", bad)
        with pytest.raises(ConfigError, match=r"CLIPWATCH_TEST_KNOB=.*1 or more \(what it is\)"):
            env_int("CLIPWATCH_TEST_KNOB", 4, 1, "what it is")


def test_the_pools_limits_and_whisper_chunks_share_it(monkeypatch):
    from flows.pools import ScaleLimits

    monkeypatch.setenv("CLIPWATCH_DOWNLOADS", "0")
    with pytest.raises(ConfigError, match="CLIPWATCH_DOWNLOADS='0'"):
        ScaleLimits()
    monkeypatch.setenv("CLIPWATCH_DOWNLOADS", "3")
    assert ScaleLimits().downloads == 3
    monkeypatch.setenv("CLIPWATCH_WHISPER_CHUNKS", "0")
    assert Settings().whisper_chunks == 0  # 0 is allowed there: the sequential decoder
    monkeypatch.setenv("CLIPWATCH_WHISPER_CHUNKS", "-1")
    with pytest.raises(ConfigError, match="sequential decoder"):
        Settings()


def test_a_bad_download_limit_is_one_line_not_a_traceback(tmp_path):
    # flows/batch reads CLIPWATCH_DOWNLOADS on import, inside the ingest command: int("two") was a traceback there
    import os
    import subprocess
    import sys

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not yet read")
    out = subprocess.run([sys.executable, "-c", "import sys; from pipeline.cli import main; sys.exit(main())",
                          "--data-dir", str(tmp_path / "data"), "ingest", str(clip)],
                         capture_output=True, text=True, env={**os.environ, "CLIPWATCH_DOWNLOADS": "two"}, timeout=120)
    assert out.returncode == 1, out.stderr
    assert "CLIPWATCH_DOWNLOADS='two': use a whole number, 1 or more" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
