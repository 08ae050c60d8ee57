"""Fixtures for the scale-out tests: a throwaway PostgreSQL cluster and a moto S3 server, both on loopback and
started by the tests themselves (import the fixtures into a test module: ``from _scale import pg, s3``)."""

from __future__ import annotations

import pytest

from pipeline.testing.postgres import PostgresCluster
from pipeline.testing.s3 import S3Server, patched_env


@pytest.fixture(scope="session")
def pg():
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def s3_server():
    with S3Server() as server:
        yield server


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch):
    """The S3 server with this process's environment pointing at it (endpoint and dummy credentials)."""
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    return s3_server


__all__ = ["pg", "s3", "s3_server", "patched_env"]
