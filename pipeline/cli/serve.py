"""The web UI and JSON API: `serve` (the web room)."""

from __future__ import annotations

import socket
from typing import Optional

import typer

from pipeline.cli.common import console, err_console, settings
from pipeline.errors import ClipwatchError

app = typer.Typer()

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default; the UI has no login)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    allowed_hosts: Optional[list[str]] = typer.Option(
        None, "--allowed-host", help="A Host name to answer besides loopback (repeatable; also CLIPWATCH_ALLOWED_HOSTS)."),
) -> None:
    """Serve the search UI, video pages and JSON API (OpenAPI at /docs)."""
    # uvicorn and FastAPI (with the web app's templates) load in about a second: only for this command.
    import uvicorn

    from pipeline.web import create_app  # FastAPI and the templates: only for the command that serves

    if not 0 < port < 65536:
        raise ClipwatchError(f"--port {port} is not a TCP port; choose one from 1 to 65535 (e.g. 8000)")
    s = settings()
    if host not in LOOPBACK:
        err_console.print(f"[yellow]warning:[/] serving on {host}: anyone who can reach it can read the archive", highlight=False)
    console.print(f"clipwatch: http://{'[' + host + ']' if ':' in host else host}:{port}/  (archive {s.data_dir})", highlight=False)
    try:  # say it in one line before uvicorn would log a bind failure and exit
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise ClipwatchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port or --host") from exc
    extra = list(allowed_hosts or [])
    if host not in ("0.0.0.0", "::", *LOOPBACK):
        extra.append(host)
    uvicorn.run(create_app(s, hosts=extra), host=host, port=port, log_level="warning")
