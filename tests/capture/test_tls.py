"""The TLS certificate an https site presents is kept with the capture; a plain-http page has none to keep."""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipeline.capture.tls import peer_chain


@pytest.fixture
def tls_site(tmp_path):
    """A loopback TLS server with a self-signed certificate for 127.0.0.1 (it answers the handshake, then closes)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "state-tv.example"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Loopback Broadcasting")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(0x5EED).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("state-tv.example")]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    stop = threading.Event()

    def serve():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1], cert
    stop.set()
    thread.join(timeout=5)
    sock.close()


def test_the_certificate_an_https_site_presents_is_kept_even_when_it_does_not_verify(tls_site):
    port, cert = tls_site
    got = peer_chain(f"https://127.0.0.1:{port}/watch/1.html", timeout=10)
    assert got is not None and not got.get("error")
    assert got["host"] == "127.0.0.1" and got["port"] == port
    assert got["verified"] is False and got["verify_error"]          # self-signed: said, and still recorded
    leaf = got["chain"][0]
    der = cert.public_bytes(serialization.Encoding.DER)
    assert leaf["sha256"] == hashlib.sha256(der).hexdigest()
    assert "CN=state-tv.example" in leaf["subject"] and leaf["serial"] == "5eed"
    assert leaf["pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert got["tls_version"].startswith("TLS")


def test_plain_http_has_no_certificate_and_a_refused_port_is_one_line():
    assert peer_chain("http://127.0.0.1:9/watch/1.html") is None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    got = peer_chain(f"https://127.0.0.1:{port}/", timeout=3)
    assert got is not None and got["chain"] == [] and got["error"] and "\n" not in got["error"]
