"""The loopback infrastructure itself: a throwaway PostgreSQL cluster and a moto S3 server come up, answer, refuse
a wrong password, and leave nothing behind."""

from __future__ import annotations

import socket
import subprocess
import sys

import psycopg
import pytest

from pipeline.testing.postgres import PostgresCluster


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def test_cluster_answers_and_is_removed_at_stop():
    cluster = PostgresCluster().start()
    tmp, port = cluster.tmp, cluster.port
    try:
        assert tmp is not None and (tmp / "data" / "PG_VERSION").is_file()
        with psycopg.connect(cluster.url()) as conn:
            assert conn.execute("SELECT 1 + 1").fetchone()[0] == 2
            assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
    finally:
        cluster.stop()
    assert not tmp.exists()
    assert not _port_open("127.0.0.1", port)


def test_wrong_password_is_refused(pg):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg.url(password="not-the-password"), connect_timeout=5)


def test_create_database_gives_a_fresh_one(pg):
    url = pg.create_database("infra_check")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")  # contrib is there (trigram search needs it)
    url = pg.create_database("infra_check")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone()[0] is None


def test_s3_server_is_reachable_from_another_process(s3):
    s3.create_bucket("infra")
    s3.client().put_object(Bucket="infra", Key="a/b.txt", Body=b"hello")
    code = ("import boto3; c = boto3.client('s3'); "
            "print(c.get_object(Bucket='infra', Key='a/b.txt')['Body'].read().decode())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "hello"
