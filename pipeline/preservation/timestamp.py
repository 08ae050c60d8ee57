"""RFC 3161 timestamps of the event chain's head: a third party's signed word that the chain ended so, then.

A hash chain proves that the events hang together, not when they were written: anyone can recompute one. A
timestamp authority (TSA) signs "this SHA-256 existed at this time"; timestamping the chain head (its hash is the
message imprint) means a later rewrite of the log can no longer end in a head that was stamped.
``timestamp_head(store, archive, url)`` asks the TSA, checks the answer (status granted, the imprint and nonce we
sent, the signature over the token by the certificate it carries), keeps the whole response under
``chain/timestamps/<id>-<hash>.tsr`` (DER, readable by ``openssl ts -reply -in … -text``) and records a
``timestamped`` event. Whether the TSA's certificate is one to trust is for the institution to decide (the
certificate is in the token); ``openssl ts -verify`` with the TSA's CA checks it.

Requests and responses are built and read with ``asn1crypto``; signatures are checked with ``cryptography``.
"""

from __future__ import annotations

import hashlib
import secrets
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

from pipeline.errors import ClipwatchError
from pipeline.storage.base import BlobStore
from pipeline.storage.files import atomic_write_bytes

TIMEOUT = 30.0


class TimestampError(ClipwatchError):
    """The timestamp authority could not be reached or gave an answer that does not hold."""


@dataclass
class Timestamp:
    head_id: int
    head_hash: str
    tsa: str
    gen_time: str
    serial: int
    token_path: str       # relative to the archive root
    token_sha256: str
    signer: str           # the subject of the TSA's certificate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def request_for(digest: bytes, nonce: int) -> bytes:
    from asn1crypto import algos, tsp  # only for RFC 3161 timestamps (verify --tsa)

    return tsp.TimeStampReq({
        "version": 1,
        "message_imprint": tsp.MessageImprint({"hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                                               "hashed_message": digest}),
        "nonce": nonce,
        "cert_req": True,
    }).dump()


def check_response(body: bytes, digest: bytes, nonce: int) -> tuple[Any, str]:
    """The TSTInfo of a valid response for (digest, nonce) and its signer; TimestampError otherwise."""
    from asn1crypto import core, tsp  # only for RFC 3161 timestamps (verify --tsa)

    try:
        # The status first, on its own: a refusal carries no token (asn1crypto's TimeStampResp requires one).
        status_info = tsp.PKIStatusInfo.load(core.Sequence.load(body)[0].dump())
        status = status_info["status"].native
        if status not in ("granted", "granted_with_mods"):
            text = "; ".join(status_info["status_string"].native or [])
            raise TimestampError(f"the timestamp authority refused: {status} {text}".strip())
        resp = tsp.TimeStampResp.load(body)
        signed = resp["time_stamp_token"]["content"]
        content = signed["encap_content_info"]["content"]
        raw = content.contents
        info = tsp.TSTInfo.load(raw)
    except TimestampError:
        raise
    except Exception as exc:  # noqa: BLE001 - any malformed answer
        raise TimestampError(f"the timestamp authority's answer is not an RFC 3161 response ({exc})") from exc
    if info["message_imprint"]["hashed_message"].native != digest:
        raise TimestampError("the timestamp authority stamped another hash than the chain head we sent")
    if info["nonce"].native != nonce:
        raise TimestampError("the timestamp authority's answer does not carry our nonce (a replayed answer?)")
    return info, check_signature(signed, raw)


def check_signature(signed, raw: bytes) -> str:
    """Check an RFC 3161 token's signature over ``raw``: the signer's subject, or TimestampError."""
    from cryptography import x509  # only for RFC 3161 timestamps (verify --tsa)
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    try:
        [signer] = list(signed["signer_infos"])
        sid = signer["sid"].chosen
        certs = [c.chosen for c in signed["certificates"]]
        cert_asn1 = next(c for c in certs if c.serial_number == sid["serial_number"].native and c.issuer == sid["issuer"])
        cert = x509.load_der_x509_certificate(cert_asn1.dump())
        attrs = {a["type"].native: a["values"][0].native for a in signer["signed_attrs"]}
        algo = signer["digest_algorithm"]["algorithm"].native
        h = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[algo]
        if attrs.get("message_digest") != hashlib.new(algo, raw).digest():
            raise TimestampError("the timestamp token's signed digest does not match its content")
        signed_bytes = b"\x31" + signer["signed_attrs"].dump()[1:]  # signed as a SET OF, not as [0]
        key = cert.public_key()
        sig = signer["signature"].native
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, signed_bytes, ec.ECDSA(h))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, signed_bytes, padding.PKCS1v15(), h)
        else:
            # RFC 3161 authorities sign with RSA or ECDSA; another key (Ed25519, DSA …) is not checked here
            raise TimestampError(f"the timestamp authority's certificate holds a key of another kind "
                                 f"({type(key).__name__}): only RSA and EC signatures are checked; use a TSA that "
                                 "signs with one of those")
    except TimestampError:
        raise
    except (InvalidSignature, StopIteration, KeyError, ValueError) as exc:
        raise TimestampError(f"the timestamp token's signature does not hold ({exc.__class__.__name__})") from exc
    return cert.subject.rfc4514_string()


def ask(url: str, digest: bytes, timeout: float = TIMEOUT) -> tuple[bytes, Any, str]:
    """Ask the TSA at ``url`` to stamp a SHA-256 digest and check its answer (the chain head, a WACZ's digest).

    Arguments: url — the TSA; digest — 32 bytes; timeout — seconds.
    Returns: (the response's DER bytes, its TSTInfo, the signer's subject). Raises: TimestampError."""
    nonce = secrets.randbits(63)
    req = urllib.request.Request(url, data=request_for(digest, nonce), method="POST",
                                 headers={"Content-Type": "application/timestamp-query", "User-Agent": "clipwatch"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the user's TSA
            body = resp.read()
    except urllib.error.HTTPError as exc:
        raise TimestampError(f"the timestamp authority {url} answered HTTP {exc.code}; check --tsa") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TimestampError(f"cannot reach the timestamp authority {url} ({getattr(exc, 'reason', exc)}); check --tsa") from exc
    info, signer = check_response(body, digest, nonce)
    return body, info, signer


def timestamp_head(store, archive: BlobStore, url: str, timeout: float = TIMEOUT) -> Timestamp:
    """Timestamp the current chain head at the TSA ``url``; keep the response and record it."""
    head_id, head_hash, _at = store.chain_head()
    if head_id == 0:
        raise TimestampError("the event log is empty: nothing to timestamp yet")
    if getattr(store, "readonly", False):
        raise TimestampError("the archive is read-only here: a timestamp could not be kept; run it where it can be written")
    digest = bytes.fromhex(head_hash)
    body, info, signer = ask(url, digest, timeout)
    rel = f"chain/timestamps/{head_id:08d}-{head_hash[:16]}.tsr"
    atomic_write_bytes(archive.abspath(rel), body)
    if hasattr(archive, "put_file"):  # an object store: the receipt goes where `verify` on any machine reads it
        archive.put_file(archive.abspath(rel), rel)
    stamp = Timestamp(head_id=head_id, head_hash=head_hash, tsa=url,
                      gen_time=info["gen_time"].native.isoformat().replace("+00:00", "Z"), serial=int(info["serial_number"].native),
                      token_path=rel, token_sha256=hashlib.sha256(body).hexdigest(), signer=signer)
    store.add_event("timestamped", detail=stamp.to_dict())
    return stamp
