"""A throwaway PostgreSQL cluster for tests and benches: ``initdb`` into a temporary folder, a server on a free
loopback port, stopped and removed at the end.

Uses the PostgreSQL binaries of the machine (Debian's ``postgresql`` package puts them under
``/usr/lib/postgresql/<major>/bin``; ``scripts/test`` installs it when missing). PostgreSQL refuses to run as root,
so when we are root the cluster's folder is handed to the ``postgres`` user and every server command runs as that
user through ``runuser``. TCP connections (127.0.0.1 only) need a password (scram-sha-256), so a wrong password
fails as it would on a real server; ``psql`` here goes through the cluster's own Unix socket, which trusts.

    with PostgresCluster() as pg:
        url = pg.create_database("clipwatch")   # postgresql://postgres:PASSWORD@127.0.0.1:PORT/clipwatch
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (install Debian's ``postgresql``)."""


def find_bindir() -> Path:
    """The newest PostgreSQL server binaries: $PG_BINDIR, then Debian's layout, then ``pg_config --bindir``."""
    env = os.environ.get("PG_BINDIR")
    candidates = [env] if env else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            candidates.append(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
        except (OSError, subprocess.CalledProcessError):
            pass
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    raise PostgresUnavailable("no PostgreSQL server binaries found (initdb, pg_ctl); install Debian's postgresql "
                              "package (scripts/test does so when run as root) or set PG_BINDIR")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class PostgresCluster:
    """One throwaway cluster. ``start()``/``stop()`` or use as a context manager."""

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None, bindir: Path | None = None,
                 settings: dict[str, str] | None = None):
        self.host = host
        self.port = port
        self.bindir = Path(bindir) if bindir else find_bindir()
        # Durability is not what a throwaway cluster is for: fsync off makes schema set-up several times faster.
        self.settings = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                         "max_connections": "100", **(settings or {})}
        self.tmp: Path | None = None
        self.running = False
        self.superuser = "postgres"
        self.password = "clipwatch-throwaway"  # a loopback-only cluster that lives as long as one test run

    # -- paths ---------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        assert self.tmp is not None
        return self.tmp / "data"

    @property
    def log_path(self) -> Path:
        assert self.tmp is not None
        return self.tmp / "server.log"

    def url(self, database: str = "postgres", user: str | None = None, password: str | None = None) -> str:
        auth = user or self.superuser
        if password is None and auth == self.superuser:
            password = self.password
        if password is not None:
            auth += f":{password}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"

    # -- running commands as the right user ------------------------------------
    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        runuser = shutil.which("runuser")
        if runuser:
            return [runuser, "-u", "postgres", "--", *argv]
        return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(_shquote(a) for a in argv)]

    def _run(self, argv: list[str], **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self._as_owner(argv), capture_output=True, text=True, **kw)

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> "PostgresCluster":
        self.tmp = Path(tempfile.mkdtemp(prefix="clipwatch-pg-"))
        try:
            if os.geteuid() == 0:
                import pwd

                try:
                    pw = pwd.getpwnam("postgres")
                except KeyError as exc:
                    raise PostgresUnavailable("running as root but there is no `postgres` user to run the server "
                                              "as; install Debian's postgresql package") from exc
                os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
            pwfile = self.tmp / "pwfile"
            pwfile.write_text(self.password + "\n")
            if os.geteuid() == 0:
                os.chown(pwfile, pw.pw_uid, pw.pw_gid)
            base = [str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", self.superuser, f"--pwfile={pwfile}",
                    "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"]
            init = self._run([*base, "--locale=C.UTF-8"])
            if init.returncode != 0:
                init = self._run([*base, "--locale=C"])
            if init.returncode != 0:
                raise RuntimeError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
            last_error = ""
            for _ in range(5):  # a free port can be taken between asking and binding: try another
                port = self.port or free_port(self.host)
                opts = f"-p {port} -k {self.tmp} -c listen_addresses={self.host} " + " ".join(
                    f"-c {k}={v}" for k, v in self.settings.items())
                proc = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_path),
                                  "-o", opts, "-w", "-t", "60", "start"])
                if proc.returncode == 0:
                    self.port, self.running = port, True
                    return self
                last_error = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else proc.stderr
                if self.port:
                    break
            raise RuntimeError(f"PostgreSQL did not start: {last_error.strip()}")
        except BaseException:
            self._remove()
            raise

    def stop(self) -> None:
        if self.running:
            self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"])
            self.running = False
        self._remove()

    def _remove(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def __enter__(self) -> "PostgresCluster":
        return self.start() if not self.running else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- conveniences -----------------------------------------------------------
    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through psql as the superuser; returns its output (unaligned, tuples only)."""
        proc = self._run([str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                          "-h", str(self.tmp), "-p", str(self.port), "-U", self.superuser, "-d", database, "-c", sql])
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def create_database(self, name: str, owner: str | None = None) -> str:
        """A fresh database (dropped first if it exists); returns its URL."""
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.psql(f'CREATE DATABASE "{name}"' + (f' OWNER "{owner}"' if owner else ""))
        return self.url(name)

    def create_role(self, name: str, password: str | None = None, *, login: bool = True) -> None:
        pw = f" PASSWORD '{password}'" if password else ""
        self.psql(f'CREATE ROLE "{name}"{" LOGIN" if login else ""}{pw}')


def _shquote(text: str) -> str:
    import shlex

    return shlex.quote(text)
