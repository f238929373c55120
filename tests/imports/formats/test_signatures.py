"""Signatures of pushed deliveries: each source's documented scheme, its documented test
vector where the docs give one, and tampered bodies, wrong secrets, missing or malformed
headers and replayed timestamps."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from application.imports.formats.signatures import OUR_HEADER, TOLERANCE_SECONDS, sign, verify

BODY = b'{"event":"tracking_update","msg":{"tracking_number":"JTMY0001"}}'
NOW = 1_773_104_400.0


def aftership_headers(body: bytes, secret: str) -> dict[str, str]:
    mac = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {"aftership-hmac-sha256": base64.b64encode(mac).decode()}


def app_key_headers(body: bytes, app_key: str, app_secret: str) -> dict[str, str]:
    mac = hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()
    return {"Authorization": mac}


def test_trackingmore_documented_test_vector():
    """TrackingMore's v4 webhook docs: secret 2e55b9a3-..., timestamp 1662371528."""
    headers = {"timestamp": "1662371528",
               "signature": "a37084ab68ae16b77db1f8463f31be9fcc965e2515e03efecf8139bb1e511b06"}
    secret = "2e55b9a3-4dd1-4416-9897-c4bd1e3d738f"
    assert verify("trackingmore", headers, BODY, secret, now=1662371528 + 10)
    assert not verify("trackingmore", headers, BODY, secret + "x", now=1662371528)


def test_trackingmore_replayed_timestamp_is_refused():
    headers = {"timestamp": "1662371528",
               "signature": "a37084ab68ae16b77db1f8463f31be9fcc965e2515e03efecf8139bb1e511b06"}
    secret = "2e55b9a3-4dd1-4416-9897-c4bd1e3d738f"
    assert not verify("trackingmore", headers, BODY, secret,
                      now=1662371528 + TOLERANCE_SECONDS + 1)
    assert not verify("trackingmore", {**headers, "timestamp": "1662371529"}, BODY, secret,
                      now=1662371528)


def test_aftership_signs_the_body():
    headers = aftership_headers(BODY, "as-secret")
    assert verify("aftership", headers, BODY, "as-secret")
    assert verify("aftership", {"AfterShip-Hmac-SHA256": headers["aftership-hmac-sha256"]},
                  BODY, "as-secret")  # header names are case-insensitive
    assert not verify("aftership", headers, BODY.replace(b"0001", b"0002"), "as-secret")
    assert not verify("aftership", headers, BODY, "other-secret")
    assert not verify("aftership", {}, BODY, "as-secret")
    assert not verify("aftership", {"aftership-hmac-sha256": "not base64!"}, BODY, "as-secret")
    assert not verify("aftership", headers, BODY, "")


@pytest.mark.parametrize("source", ["tiktok_shop", "lazada"])
def test_app_key_and_body_schemes(source):
    headers = app_key_headers(BODY, "6abc123", "s3cr3t")
    secret = "6abc123:s3cr3t"
    assert verify(source, headers, BODY, secret)
    assert verify(source, {"authorization": headers["Authorization"].upper()}, BODY, secret)
    assert not verify(source, headers, BODY + b" ", secret)
    assert not verify(source, headers, BODY, "6abc123:wrong")
    assert not verify(source, headers, BODY, "s3cr3t")  # the app key is part of the secret
    assert not verify(source, {"Authorization": "zz"}, BODY, secret)
    assert not verify(source, {}, BODY, secret)


@pytest.mark.parametrize("source", ["amazon_returns", "returns_ledger", "someone_else"])
def test_our_default_scheme(source):
    headers = sign(BODY, "ours", now=NOW)
    assert headers[OUR_HEADER].startswith(f"t={int(NOW)},v1=")
    assert verify(source, headers, BODY, "ours", now=NOW + 60)
    assert not verify(source, headers, BODY[:-1], "ours", now=NOW)
    assert not verify(source, headers, BODY, "theirs", now=NOW)
    assert not verify(source, headers, BODY, "ours", now=NOW + TOLERANCE_SECONDS + 1)
    assert not verify(source, headers, BODY, "ours", now=NOW - TOLERANCE_SECONDS - 1)
    assert not verify(source, {}, BODY, "ours", now=NOW)
    for broken in ("", "t=,v1=", "v1=00", f"t={int(NOW)}", f"t={int(NOW)},v1=xyz",
                   f"t=-{int(NOW)},v1=00"):
        assert not verify(source, {OUR_HEADER: broken}, BODY, "ours", now=NOW)


def test_our_scheme_computed_independently():
    stamp = str(int(NOW))
    mac = hmac.new(b"ours", stamp.encode() + b"." + BODY, hashlib.sha256).hexdigest()
    assert verify("lazada_relay", {OUR_HEADER: f"t={stamp}, v1={mac}"}, BODY, "ours", now=NOW)


def test_a_signature_of_another_source_does_not_pass():
    headers = aftership_headers(BODY, "k")
    assert not verify("tiktok_shop", headers, BODY, "k:k")
    assert not verify("returns_ledger", headers, BODY, "k", now=NOW)
