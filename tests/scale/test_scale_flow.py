"""The real ingest flow on the scale-out backends: catalogue on PostgreSQL, originals on S3 (both on loopback,
started by the tests), then search and verify from there."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from pipeline.config import DEFAULT_MODEL, Settings
from pipeline.preservation.fixity import verify
from pipeline.search.facade import SearchQuery, search
from pipeline.storage.base import blob_store_for
from pipeline.storage.postgres.catalogue import PostgresCatalogue

pytestmark = pytest.mark.slow


def test_ingest_into_postgres_and_s3(prefect_harness, sample_feed, pg, s3, tmp_path):
    from flows.ingest import ingest_flow

    bucket = f"flow-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(bucket)
    url = pg.create_database(f"flow_{uuid.uuid4().hex[:8]}")
    # the default model: tiny.en decoding without timestamp tokens hears "nuclear deterrent" as "nuclear determinant"
    settings = Settings(data_dir=tmp_path / "data", model=DEFAULT_MODEL, translate=False, semantic=False, device="cpu",
                        database_url=url, storage_url=f"s3://{bucket}/archive")
    report = ingest_flow([sample_feed], settings)
    assert report.failed == 0, report.to_dict()
    for v in report.videos:
        assert {"fetch", "keyframes", "transcribe", "tag"} <= set(v.stages) and set(v.stages.values()) == {"done"}, v
    assert not (settings.db_path).exists()  # nothing went to SQLite

    with PostgresCatalogue(url) as cat:
        media = cat.media_rows()
        assert len(media) == 3
        for m in media:  # every original on the object store under its SHA-256
            body = s3.client().get_object(Bucket=bucket, Key=f"archive/{m['path']}")["Body"].read()
            assert hashlib.sha256(body).hexdigest() == m["sha256"] and m["sha256"] in m["path"]
        res = search(cat, SearchQuery("nuclear deterrent"), archive_dir=settings.archive_dir)
        assert {g.title for g in res.videos} == {"Evening News Bulletin — 15 April",
                                                 "Statement of the Foreign Ministry Spokesman"}
        blobs = blob_store_for(settings)
        assert verify(cat, blobs, derivatives=False).ok
        # The hash chain on PostgreSQL is whole, every video's manifest was recorded, and a machine with an empty
        # cache verifies the derivatives against them from the object store.
        assert cat.chain_report().ok
        assert sum(cat.manifest_record(v) is not None for v in cat.video_ids()) == 3
        from pipeline.storage.base import open_blob_store

        full = verify(cat, open_blob_store(f"s3://{bucket}/archive", cache_dir=tmp_path / "elsewhere"))
        assert full.ok and full.derivatives_checked > 9, [p.message for p in full.problems]
        victim = media[0]
        data = bytearray(s3.client().get_object(Bucket=bucket, Key=f"archive/{victim['path']}")["Body"].read())
        data[100] ^= 0xFF
        s3.client().put_object(Bucket=bucket, Key=f"archive/{victim['path']}", Body=bytes(data))
        bad = verify(cat, blobs, derivatives=False)
        assert [p.path for p in bad.problems] == [victim["path"]] and bad.problems[0].status == "corrupt"
        assert [e["kind"] for e in cat.events()].count("corrupt") == 1
