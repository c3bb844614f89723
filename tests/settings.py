"""The product's settings, with what only tests may change: a fast password hasher
(the real one costs ~0.3 s per sign-in and user created, most of the SQLite suite's time)."""

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
