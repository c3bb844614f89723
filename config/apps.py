"""Start-up wiring of the project itself (not a product app: it owns no models)."""

import os

from django.apps import AppConfig
from django.conf import settings


class ProjectConfig(AppConfig):
    name = "config"
    label = "project"
    verbose_name = "OTP Streams"

    def ready(self) -> None:
        if settings.EMBEDDED_DEFAULT:
            prepare_var_dir()


def prepare_var_dir() -> None:
    """The embedded default keeps its database, static files and generated keys under
    VAR_DIR: create it, and keep the keys this process generated so sessions, tokens and
    code hashes survive restarts. A key written meanwhile by another process wins for the
    next start (O_EXCL: a file is never overwritten)."""
    var = settings.VAR_DIR
    var.mkdir(parents=True, exist_ok=True)
    settings.STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns when it is missing
    for name, value in settings.LOCAL_SECRETS_TO_WRITE.items():
        try:
            fd = os.open(var / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as f:
            f.write(value)
    settings.LOCAL_SECRETS_TO_WRITE.clear()
