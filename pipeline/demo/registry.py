"""The demo's sample outlet in the channel registry: listed by the demo, for the demo's own site, while it runs.

The shipped registry (``pipeline/data/channels.toml``) lists real outlets only. ``clipwatch demo`` serves its
fictional broadcaster from a loopback site and wants the tagger to show a registry match for it, so while the demo
ingests, :func:`demo_registry` points ``CLIPWATCH_CHANNELS`` at a copy of the registry in use with one more entry:
the demo's site, host *and port*. Nothing is written into the archive or the package, and afterwards (or for any
other loopback site, such as a user's own test channel) no loopback channel is labelled.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pipeline.config import channel_registry_path, samples_dir

ENV = "CLIPWATCH_CHANNELS"
CITATION = ("Not a real outlet: the fictional broadcaster of clipwatch's bundled sample clips (data/samples), listed by "
            "`clipwatch demo` for its own loopback site while it runs, so the demo shows a registry match; its scripts "
            "are written in the style of DPRK state-media bulletins.")


def demo_channel_entry(site_url: str, name: str | None = None) -> str:
    """The registry entry (TOML) of the demo's sample outlet.

    Arguments:
        site_url: the demo site's base URL with its port (``http://127.0.0.1:8765``): only pages under it match.
        name: the outlet's name (default: the samples' channel, ``pipeline/data/samples/samples.json``).

    Returns:
        One ``[[channel]]`` table of kind ``demo``.
    """
    if name is None:
        meta = json.loads((samples_dir() / "samples.json").read_text(encoding="utf-8"))
        name = meta["channel"]["name"]
    # JSON strings are TOML basic strings (quotes, backslashes and control characters escaped alike)
    q = json.dumps
    return (f"\n[[channel]]\nname = {q(name)}\nkind = \"demo\"\ncountry = \"\"\naliases = [{q(name)}]\n"
            f"urls = [{q(site_url.rstrip('/'))}]\ncitation = {q(CITATION)}\n")


@contextmanager
def demo_registry(site_url: str, name: str | None = None) -> Iterator[Path]:
    """While the block runs, the channel registry is the one in use plus the demo's sample outlet at ``site_url``.

    Arguments:
        site_url: the demo site's base URL with its port.
        name: the outlet's name (default: the samples' channel).

    Returns:
        A context manager yielding the path of the registry in force; on exit ``CLIPWATCH_CHANNELS`` is restored
        and the file removed.
    """
    base = channel_registry_path().read_text(encoding="utf-8")
    before = os.environ.get(ENV)
    with tempfile.TemporaryDirectory(prefix="clipwatch-demo-") as tmp:
        path = Path(tmp) / "channels.toml"
        path.write_text(base.rstrip("\n") + "\n" + demo_channel_entry(site_url, name), encoding="utf-8")
        os.environ[ENV] = str(path)
        try:
            yield path
        finally:
            if before is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = before
