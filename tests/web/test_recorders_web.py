"""The live recorders' page and its JSON twin (issue 25): each channel's state and backlog, escaped."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from pipeline.broadcast.status import record_folder
from pipeline.config import Settings
from pipeline.web import create_app


def test_recorders_page_and_api(tmp_path):
    s = Settings(data_dir=tmp_path / "data")
    s.ensure_dirs()
    with TestClient(create_app(s), base_url="http://127.0.0.1") as client:
        assert client.get("/api/recorders").json() == {"recorders": []}
        assert "No channel has been recorded" in client.get("/recorders").text
        folder = record_folder(s.data_dir, "kctv")
        folder.mkdir(parents=True)
        (folder / "status.json").write_text(json.dumps({
            "channel": "kctv", "state": "stopped", "pid": 1, "backlog_seconds": 150.0, "shed": ["ocr"],
            "segments_analysed": 3, "gaps": 1, "last_air_end": "2026-12-06T20:14:33.120Z", "url": "<b>u</b>"}))
        (row,) = client.get("/api/recorders").json()["recorders"]
        assert (row["channel"], row["backlog_seconds"], row["running"], row["waiting_on_disk"]) == ("kctv", 150.0, False, 0)
        page = client.get("/recorders").text
        assert "kctv" in page and "2.5 min" in page and "ocr" in page and "<b>u</b>" not in page
