"""Hashes stored before the one keyed-hash function existed still verify after it."""

import hashlib
import hmac
import uuid

from django.conf import settings

from compat.credentials import hash_secret
from otp.codes import code_matches
from streams.hashing import Purpose, keyed_hash
from streams.tokens import hash_token


def _legacy(message: str) -> str:
    return hmac.new(settings.OTP_HASH_KEY.encode(), message.encode(), hashlib.sha256).hexdigest()


def test_an_api_token_hashed_before_the_upgrade_still_matches():
    token = "ots_" + "a" * 43
    assert hash_token(token) == _legacy(token)


def test_a_pending_code_hashed_before_the_upgrade_still_matches():
    verification_id = uuid.uuid4()
    assert code_matches(verification_id, "123456", _legacy(f"{verification_id}:123456"))


def test_a_compat_secret_hashed_before_the_upgrade_still_matches():
    assert hash_secret("s3cret") == _legacy("compat-secret:s3cret")


def test_the_same_parts_hash_differently_for_each_labelled_purpose():
    hashes = {keyed_hash(purpose, "same") for purpose in Purpose}
    assert len(hashes) == len(Purpose) - 1  # the two unlabelled purposes agree on one part
