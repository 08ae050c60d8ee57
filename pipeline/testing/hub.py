"""A loopback imitation of the Hugging Face hub, enough for ``huggingface_hub`` to list a model repository and
download its files (``HF_ENDPOINT=<server.base_url>``). Serves a local folder — in the tests, the packaged tiny.en
CTranslate2 files — under any repository id, with the metadata the real hub sends: the commit, each file's size,
its git blob id, and for "LFS" files (model.bin) the SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pipeline.demo.loopback import LoopbackServer, Route

LFS_MIN = 1 << 20  # files at least this big are served as LFS objects (with a SHA-256), as on the hub


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


def publish_model(server: LoopbackServer, repo_id: str, folder: Path, *, commit: str | None = None,
                  served: dict[str, bytes] | None = None) -> str:
    """Serve every file of ``folder`` as repository ``repo_id``; returns the commit id.

    ``served`` replaces the bytes sent for some files while the listing keeps the real ones' hashes (a download
    damaged on the way).
    """
    files = {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir()) if p.is_file()}
    commit = commit or hashlib.sha1(repo_id.encode() + b"".join(files.values())).hexdigest()
    siblings = []
    for name, data in files.items():
        sib: dict = {"rfilename": name, "size": len(data), "blobId": git_blob_sha1(data)}
        if len(data) >= LFS_MIN:
            sib["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        siblings.append(sib)
    info = json.dumps({"id": repo_id, "modelId": repo_id, "sha": commit, "private": False, "disabled": False,
                       "gated": False, "siblings": siblings, "tags": ["ctranslate2"]}).encode()
    for rev in ("main", commit):
        server.routes[f"/api/models/{repo_id}/revision/{rev}"] = Route(body=info, content_type="application/json")
    server.routes[f"/api/models/{repo_id}"] = Route(body=info, content_type="application/json")
    for name, data in files.items():
        body = (served or {}).get(name, data)
        etag = hashlib.sha256(data).hexdigest() if len(data) >= LFS_MIN else git_blob_sha1(data)
        headers = {"X-Repo-Commit": commit, "X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(body))}
        for rev in ("main", commit):
            server.routes[f"/{repo_id}/resolve/{rev}/{name}"] = Route(body=body, content_type="application/octet-stream",
                                                                      headers=headers)
    return commit


def publish_damaged(server: LoopbackServer, repo_id: str, folder: Path, name: str) -> str:
    """Serve ``folder`` as ``repo_id`` with one byte of file ``name`` flipped on the way (the listing keeps the real
    file's hashes): a download damaged in transit."""
    damaged = bytearray((Path(folder) / name).read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    return publish_model(server, repo_id, folder, served={name: bytes(damaged)})
