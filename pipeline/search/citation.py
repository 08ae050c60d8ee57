"""Citations for an archived video, or for one moment in it: plain text, BibTeX and CSL-JSON.

A citation names both the source (the platform URL, channel, upload date) and
the archived copy that was actually watched (archive date, SHA-256 of the
original file, clipwatch id), plus the timestamp when it cites a hit.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from pipeline.search.fulltext import deep_link


@dataclass
class Citation:
    video_id: str
    title: str
    channel: str | None
    url: str                       # the platform page
    upload_date: str | None        # YYYY-MM-DD
    archived_at: str | None        # when clipwatch fetched the archived copy (UTC)
    sha256: str | None             # of the archived original file
    status: str = "available"
    seconds: float | None = None   # a moment in the video, for a hit
    link: str | None = None        # opens the source at that moment

    @property
    def timestamp(self) -> str | None:
        if self.seconds is None:
            return None
        s = max(0, int(self.seconds))
        return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["timestamp"] = self.timestamp
        d["text"] = to_text(self)
        return d


def _get(row: Mapping[str, Any] | Any, key: str) -> Any:
    try:
        return row[key]
    except (KeyError, IndexError, TypeError):
        return getattr(row, key, None)


def _iso_date(value: str | None) -> str | None:
    if not value:
        return None
    v = str(value)
    m = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2}).*", v)
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else v


def cite(video: Mapping[str, Any] | Any, media: Mapping[str, Any] | Any | None = None, seconds: float | None = None) -> Citation:
    """A citation from a ``videos`` row (or a search VideoGroup) and its ``media_files`` row."""
    archived = (_get(media, "fetched_at") if media is not None else None) or _get(video, "archived_at")
    sha = (_get(media, "sha256") if media is not None else None) or _get(video, "media_sha256") or _get(video, "sha256")
    url = _get(video, "webpage_url") or ""
    return Citation(
        video_id=_get(video, "id") or _get(video, "video_id"),
        title=_get(video, "title") or "(untitled)",
        channel=_get(video, "channel") or _get(video, "uploader"),
        url=url,
        upload_date=_iso_date(_get(video, "upload_date")),
        archived_at=archived,
        sha256=sha,
        status=_get(video, "status") or "available",
        seconds=seconds,
        link=deep_link(url, seconds) if seconds is not None and url else None,
    )


def to_text(c: Citation) -> str:
    """One paragraph, e.g. for a footnote."""
    parts = []
    if c.channel:
        parts.append(f"{c.channel}.")
    parts.append(f"“{c.title}.”")
    parts.append(f"Video, uploaded {c.upload_date or 'n.d.'}.")
    if c.timestamp:
        parts.append(f"At {c.timestamp}.")
    parts.append(c.link or c.url)
    if c.status != "available":
        parts.append(f"({c.status} at source).")
    archived = (c.archived_at or "")[:10] or "n.d."
    tail = f"Archived copy {c.video_id}, fetched {archived}"
    if c.sha256:
        tail += f", SHA-256 {c.sha256}"
    parts.append(tail + ".")
    return " ".join(p for p in parts if p)


_BIB_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "%": r"\%", "&": r"\&", "$": r"\$",
                "#": r"\#", "_": r"\_", "^": r"\^{}", "~": r"\~{}"}


def _bib(text: str) -> str:
    return "".join(_BIB_ESCAPES.get(ch, ch) for ch in str(text))


def bibtex_key(c: Citation) -> str:
    year = (c.upload_date or "nd")[:4]
    key = re.sub(r"[^A-Za-z0-9]+", "", c.video_id)[:40] or "video"
    return f"{key}{year}" + (f"t{int(c.seconds)}" if c.seconds is not None else "")


def to_bibtex(c: Citation) -> str:
    fields: list[tuple[str, str]] = [("title", "{" + _bib(c.title) + "}")]
    if c.channel:
        fields.append(("author", "{" + _bib(c.channel) + "}"))  # an organisation: keep it one name
    if c.upload_date:
        fields += [("year", c.upload_date[:4]), ("date", c.upload_date)]
    fields.append(("howpublished", "\\url{" + (c.link or c.url).replace("%", "\\%").replace("#", "\\#") + "}"))
    if c.archived_at:
        fields.append(("urldate", c.archived_at[:10]))
    note = [f"Archived copy {c.video_id}"]
    if c.sha256:
        note.append(f"SHA-256 {c.sha256}")
    if c.timestamp:
        note.append(f"at {c.timestamp}")
    if c.status != "available":
        note.append(f"{c.status} at source")
    fields.append(("note", _bib("; ".join(note))))
    body = ",\n".join(f"  {k} = {{{v}}}" if not v.startswith("{") else f"  {k} = {v}" for k, v in fields)
    return f"@misc{{{bibtex_key(c)},\n{body}\n}}\n"


def _date_parts(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})", value)
    return {"date-parts": [[int(m.group(1)), int(m.group(2)), int(m.group(3))]]} if m else {"raw": value}


def to_csl(c: Citation) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": bibtex_key(c),
        "type": "motion_picture",
        "title": c.title,
        "medium": "video",
        "URL": c.link or c.url,
        "note": "; ".join(x for x in [
            f"Archived copy {c.video_id}",
            f"SHA-256 {c.sha256}" if c.sha256 else "",
            f"at {c.timestamp}" if c.timestamp else "",
            f"{c.status} at source" if c.status != "available" else "",
        ] if x),
    }
    if c.channel:
        item["author"] = [{"literal": c.channel}]
        item["publisher"] = c.channel
    if (issued := _date_parts(c.upload_date)) is not None:
        item["issued"] = issued
    if (accessed := _date_parts(c.archived_at[:10] if c.archived_at else None)) is not None:
        item["accessed"] = accessed
    return item


def all_formats(c: Citation) -> dict[str, Any]:
    return {"text": to_text(c), "bibtex": to_bibtex(c), "csl": to_csl(c)}
