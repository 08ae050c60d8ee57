"""The TLS certificate chain an https site presents, as the Bellingcat auto-archiver's certificate enricher keeps it.

One TLS handshake with the page's host, after the fetch: the certificates the server sent (PEM, subject, issuer,
validity, SHA-256 fingerprint), the protocol and cipher, and whether the chain verified against this machine's
trust store (a chain that does not verify is still recorded, with the reason: it is what the site presented).

Python before 3.13 hands over only the server's own certificate, not the intermediates it sent; the record says
``"complete": false`` then. A plain-http page (the demo's loopback site) has no certificate: nothing is asked.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509


def _describe(der: bytes) -> dict[str, Any]:
    cert = x509.load_der_x509_certificate(der)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256": hashlib.sha256(der).hexdigest(),
        "pem": ssl.DER_cert_to_PEM_cert(der),
    }


def _handshake(host: str, port: int, timeout: float, verify: bool) -> tuple[list[bytes], bool, str, Any]:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            sslobj = getattr(tls, "_sslobj", None)
            chain_fn = getattr(sslobj, "get_unverified_chain", None)  # Python 3.13+: every certificate sent
            if chain_fn is not None:
                der_encoding = getattr(ssl, "ENCODING_DER", 2)  # _ssl.ENCODING_DER (3.13+), not in older stubs
                ders = [c.public_bytes(der_encoding) if hasattr(c, "public_bytes") else c for c in chain_fn()]
                complete = True
            else:
                leaf = tls.getpeercert(binary_form=True)
                ders, complete = ([leaf] if leaf else []), False
            return ders, complete, tls.version() or "", tls.cipher()


def peer_chain(url: str, timeout: float = 10.0) -> dict[str, Any] | None:
    """The certificate chain the host of an https URL presents; None for any other scheme.

    Arguments: url — the page's URL; timeout — seconds for the connection.
    Returns: {host, port, verified, verify_error, tls_version, cipher, complete, chain: [{subject, issuer, serial,
    not_before, not_after, sha256, pem}], error} — ``error`` set (and ``chain`` empty) when no handshake succeeded.
    Never raises for network or TLS failures."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    host, port = parts.hostname, parts.port or 443
    out: dict[str, Any] = {"host": host, "port": port, "verified": False, "verify_error": None, "chain": []}
    try:
        ders, complete, version, cipher = _handshake(host, port, timeout, verify=True)
        out["verified"] = True
    except ssl.SSLCertVerificationError as exc:
        out["verify_error"] = str(exc.verify_message or exc)
        try:
            ders, complete, version, cipher = _handshake(host, port, timeout, verify=False)
        except (OSError, ValueError) as exc2:
            out["error"] = str(exc2)
            return out
    except (OSError, ValueError) as exc:
        out["error"] = str(exc)
        return out
    out.update(tls_version=version, cipher=cipher[0] if cipher else None, complete=complete,
               chain=[_describe(d) for d in ders])
    return out
