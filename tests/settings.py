"""The product's settings, with what only tests may change: a fast password hasher
(the real one costs ~0.3 s per sign-in and user created, most of the SQLite suite's
time), and fixed keys for runs on PostgreSQL, where the product refuses to start
without them (the workers and servers the tests start inherit them)."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-never-used-in-production-0123456789")
os.environ.setdefault("OTP_HASH_KEY", "tests-only-hash-key-never-used-in-production-0123456789")
os.environ.setdefault(
    "OTP_ENCRYPTION_KEY", "tests-only-encryption-key-never-used-in-production-0123456789"
)

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
