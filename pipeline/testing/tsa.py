"""A loopback RFC 3161 timestamp authority for tests.

No PyPI library acts as a TSA server (``rfc3161ng`` is a client; ``asn1crypto`` and ``cryptography`` provide the
pieces), so responses are built here from those two: a throwaway RSA key and self-signed certificate with the
``timeStamping`` extended key usage, a TSTInfo over the request's imprint and nonce, wrapped in CMS SignedData
with signed attributes, as RFC 3161 and RFC 5652 describe. ``refuse=True`` answers ``rejection``;
``tamper=True`` signs a different imprint (a TSA answer that must not be accepted); ``key="ed25519"`` signs with
an Ed25519 key instead of RSA (a key kind the checker does not verify).
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackTSA:
    def __init__(self, refuse: bool = False, tamper: bool = False, key: str = "rsa"):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        self.refuse, self.tamper = refuse, tamper
        self.key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
        if key == "ed25519":
            self.key = ed25519.Ed25519PrivateKey.generate()
        elif key == "rsa":
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise ValueError(f"key must be 'rsa' or 'ed25519', not {key!r}")
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "clipwatch loopback TSA")])
        now = datetime.now(timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                     .not_valid_after(now + timedelta(days=1))
                     .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
                     .sign(self.key, None if key == "ed25519" else hashes.SHA256()))
        self.serial = 0
        self.requests = 0
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                out = tsa.respond(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tsa"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "LoopbackTSA":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def respond(self, body: bytes) -> bytes:
        from asn1crypto import algos, cms, core, tsp
        from asn1crypto import x509 as ax509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        self.requests += 1
        req = tsp.TimeStampReq.load(body)
        if self.refuse:
            # asn1crypto's TimeStampResp wants a token; a refusal has none: SEQUENCE { PKIStatusInfo } by hand.
            status = tsp.PKIStatusInfo({"status": "rejection", "status_string": ["policy says no"]}).dump()
            return core.Sequence.load(b"\x30" + _der_len(len(status)) + status).dump()
        self.serial += 1
        imprint = req["message_imprint"]
        if self.tamper:
            imprint = tsp.MessageImprint({"hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                                          "hashed_message": hashlib.sha256(b"something else").digest()})
        info = {"version": "v1", "policy": "1.3.6.1.4.1.99999.1", "message_imprint": imprint, "serial_number": self.serial,
                "gen_time": datetime.now(timezone.utc).replace(microsecond=0)}
        if req["nonce"].native is not None:
            info["nonce"] = req["nonce"].native
        content = tsp.TSTInfo(info).dump()
        cert = ax509.Certificate.load(self.cert.public_bytes(serialization.Encoding.DER))
        attrs = cms.CMSAttributes([
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(content).digest()]}),
        ])
        if isinstance(self.key, rsa.RSAPrivateKey):
            signature, algorithm = self.key.sign(attrs.dump(), padding.PKCS1v15(), hashes.SHA256()), "sha256_rsa"
        else:  # Ed25519 signs the message itself, no digest or padding
            signature, algorithm = self.key.sign(attrs.dump()), "ed25519"
        signer = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
                {"issuer": cert.issuer, "serial_number": cert.serial_number})}),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": algorithm}),
            "signature": signature,
        })
        signed = cms.SignedData({
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(content)},
            "certificates": [cert],
            "signer_infos": [signer],
        })
        token = cms.ContentInfo({"content_type": "signed_data", "content": signed})
        return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw
