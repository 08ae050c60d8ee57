"""Channel registry lookup: is this video from a listed state-media outlet?

The registry is ``pipeline/data/channels.toml`` (or ``CLIPWATCH_CHANNELS``). A video
matches an entry when its platform channel id is one of the entry's ``channel_ids``, or its channel URL or page URL
falls under one of the entry's URLs (host, or host/path prefix; scheme, ``www.``, ``m.`` and, for a host-only entry
without a port, the port are ignored). ``Registry.match`` can also match the channel or uploader name against the
entry's name and aliases (ignoring case, spaces and punctuation, in any script), but the tagger's prior and the
channel network never do: a name is anyone's to take, and a channel merely called "KCTV" is not state media.
"""

from __future__ import annotations

import functools
import hashlib
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import channel_registry_path
from pipeline.errors import ConfigError
from pipeline.tagging.signals.base import Signal


@dataclass(frozen=True)
class Channel:
    name: str
    kind: str  # state-media | affiliated | demo
    country: str
    aliases: tuple[str, ...]
    urls: tuple[str, ...]
    citation: str
    channel_ids: tuple[str, ...] = ()  # platform channel ids (yt-dlp's channel_id), exact


@dataclass(frozen=True)
class RegistryMatch:
    channel: Channel
    matched_on: str  # "channel URL", "page URL", "channel name", "uploader name"
    value: str

    def describe(self) -> str:
        extra = {"demo": " (demo/sample outlet)", "affiliated": " (affiliated)"}.get(self.channel.kind, "")
        return f"channel in registry: {self.channel.name}{extra}, by {self.matched_on}"


@dataclass(frozen=True)
class Registry:
    version: str
    channels: tuple[Channel, ...] = field(default_factory=tuple)

    def match(self, *, channel: str | None = None, channel_url: str | None = None, uploader: str | None = None,
              webpage_url: str | None = None, channel_id: str | None = None,
              names: bool = True) -> RegistryMatch | None:
        """The registry entry a video's channel is, by platform channel id, channel URL or page URL; by channel or
        uploader name too unless ``names`` is False (a name is anyone's to take: the channel network labels a
        channel only by id or URL)."""
        if channel_id:
            for ch in self.channels:
                if channel_id in ch.channel_ids:
                    return RegistryMatch(ch, "channel id", channel_id)
        for label, url in (("channel URL", channel_url), ("page URL", webpage_url)):
            if not url:
                continue
            host, path = _split_url(url)
            for ch in self.channels:
                for ref in ch.urls:
                    if _url_under(host, path, ref):
                        return RegistryMatch(ch, label, url)
        for label, name in (("channel name", channel), ("uploader name", uploader)) if names else ():
            key = _name_key(name)
            if not key:
                continue
            for ch in self.channels:
                if key in {_name_key(a) for a in (ch.name, *ch.aliases)}:
                    return RegistryMatch(ch, label, name or "")
        return None


def _name_key(name: str | None) -> str:
    if not name:
        return ""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", name).casefold())


def _split_url(url: str) -> tuple[str, str]:
    u = url.strip().lower()
    u = re.sub(r"^[a-z][a-z0-9+.-]*://", "", u)
    u = u.split("#", 1)[0].split("?", 1)[0]
    host, _, path = u.partition("/")
    host = host.rsplit("@", 1)[-1]
    for prefix in ("www.", "m."):
        if host.startswith(prefix):
            host = host[len(prefix):]
    return host, "/" + path.strip("/") if path.strip("/") else ""


def _url_under(host: str, path: str, ref: str) -> bool:
    rhost, rpath = _split_url(ref)
    if ":" not in rhost:
        host = host.split(":", 1)[0]
    if not (host == rhost or host.endswith("." + rhost)):
        return False
    return not rpath or path == rpath or path.startswith(rpath + "/")


def load_registry(path: Path | None = None) -> Registry:
    p = Path(path) if path else channel_registry_path()
    return _load(str(p), p.stat().st_mtime_ns if p.exists() else 0)


@functools.lru_cache(maxsize=4)
def _load(path: str, _mtime: int) -> Registry:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"channel registry {p} not found; reinstall clipwatch or set CLIPWATCH_CHANNELS") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"channel registry {p} is not valid TOML: {exc}") from exc
    chans = []
    for i, c in enumerate(data.get("channel", [])):
        if not c.get("name"):
            raise ConfigError(f"channel registry {p}: entry {i + 1} has no name")
        chans.append(Channel(
            name=c["name"], kind=c.get("kind", "state-media"), country=c.get("country", ""),
            aliases=tuple(c.get("aliases", [])), urls=tuple(c.get("urls", [])), citation=c.get("citation", ""),
            channel_ids=tuple(str(x) for x in c.get("channel_ids", [])),
        ))
    # The stated version plus a digest of the file: an edit that forgets to bump the version still re-tags.
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return Registry(f"{data.get('version', '?')}-{digest}", tuple(chans))


class SourceSignal(Signal):
    """The channel registry: a video from a listed state outlet (or one affiliated with it)."""

    name = "source"
    features = ("src_registry", "src_affiliated")

    def extract(self, inp, audio):
        # by platform channel id or URL only (issue 21): a display name alone would give any channel called "KCTV"
        # the state-media prior
        match = load_registry().match(channel=inp.channel, channel_url=inp.channel_url, uploader=inp.uploader,
                                      webpage_url=inp.webpage_url, channel_id=getattr(inp, "channel_id", None),
                                      names=False)
        if match is None:
            return {}
        key = "src_affiliated" if match.channel.kind == "affiliated" else "src_registry"
        return {key: (1.0, match.describe())}
