"""The RFC 3161 answer check on its own (no archive): which signing keys it verifies, and what it says of others."""

from __future__ import annotations

import hashlib

import pytest

from pipeline.preservation.timestamp import TimestampError, check_response, request_for
from pipeline.testing.tsa import LoopbackTSA

DIGEST = hashlib.sha256(b"a chain head").digest()
NONCE = 12345


def test_an_rsa_signed_answer_is_accepted_with_its_signer():
    with LoopbackTSA() as tsa:
        body = tsa.respond(request_for(DIGEST, NONCE))
    info, signer = check_response(body, DIGEST, NONCE)
    assert signer == "CN=clipwatch loopback TSA"
    assert info["message_imprint"]["hashed_message"].native == DIGEST


def test_a_key_neither_rsa_nor_ec_is_a_timestamp_error_not_a_crash():
    # Ed25519 keys verify with (signature, data) only: handed RSA's padding and hash, they raised TypeError
    with LoopbackTSA(key="ed25519") as tsa:
        body = tsa.respond(request_for(DIGEST, NONCE))
    with pytest.raises(TimestampError, match=r"Ed25519PublicKey.*only RSA and EC"):
        check_response(body, DIGEST, NONCE)
