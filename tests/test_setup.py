"""The demo and token commands, and settings with and without an environment."""

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from streams.models import Account, Contact, EventTemplate, SenderID, Stream
from streams.tokens import hash_token
from tests.support.factories import make_stream
from tests.support.services import ROOT

pytestmark = pytest.mark.django_db


def run_demo() -> str:
    out = StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


def printed_token(output: str) -> str:
    return next(
        line.split(":", 1)[1].strip() for line in output.splitlines() if "API token:" in line
    )


def test_demo_creates_everything_once_and_rotates_the_token():
    first = run_demo()
    second = run_demo()
    assert Account.objects.filter(slug="demo").count() == 1
    stream = Stream.objects.get(name="Demo log-in")
    assert stream.status == "active"
    assert stream.allowed_ips == ["127.0.0.1", "::1"]
    assert EventTemplate.objects.filter(stream=stream, key="login").count() == 1
    assert SenderID.objects.count() == 1 and Contact.objects.count() == 1
    assert "admin / otp-streams-demo" in second
    assert "http://127.0.0.1:8000/" in second
    old, new = printed_token(first), printed_token(second)
    assert old != new
    assert stream.token_hash == hash_token(new)


def test_rotate_token_prints_a_new_working_token(account):
    stream, old = make_stream(account)
    out = StringIO()
    call_command("rotate_token", str(stream.pk), stdout=out)
    new = out.getvalue().splitlines()[1]
    stream.refresh_from_db()
    assert stream.token_hash == hash_token(new) != hash_token(old)


def test_rotate_token_of_unknown_stream_is_a_clear_error():
    with pytest.raises(CommandError, match="No stream with id 999"):
        call_command("rotate_token", "999")


def settings_in_subprocess(env: dict[str, str], code: str, *, setup: bool = True, cwd=ROOT) -> str:
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    clean.update(env)
    start = "import django; django.setup()" if setup else "import config.settings"
    return subprocess.run(
        [sys.executable, "-c", f"{start}; {code}"],
        cwd=cwd,
        env={"DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(ROOT), **clean},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.mark.parametrize(
    "env",
    [
        {"DATABASE_URL": "postgres://u:p@db.internal:5432/otp"},
        {"DEBUG": "false"},
        {"DATABASE_URL": "postgres://u:p@db.internal:5432/otp", "SECRET_KEY": "k" * 50},
        {
            "DATABASE_URL": "postgres://u:p@db.internal:5432/otp",
            "SECRET_KEY": "k" * 50,
            "OTP_HASH_KEY": "h" * 50,
        },
    ],
    ids=["postgres", "debug-false", "postgres-without-hash-key", "postgres-without-encryption-key"],
)
def test_a_production_node_without_its_keys_refuses_to_start(tmp_path, env):
    with pytest.raises(subprocess.CalledProcessError) as refused:
        settings_in_subprocess({"VAR_DIR": str(tmp_path), **env}, "print('started')")
    assert "is not set" in refused.value.stderr
    assert "every node must use the same" in refused.value.stderr
    assert list(tmp_path.iterdir()) == []  # it minted no key of its own


def test_importing_the_settings_writes_nothing(tmp_path):
    var = tmp_path / "var"
    out = settings_in_subprocess(
        {"VAR_DIR": str(var)}, "print(len(config.settings.SECRET_KEY))", setup=False
    )
    assert int(out) >= 50
    assert not var.exists()


def test_var_dir_is_read_from_the_env_file(tmp_path):
    var = tmp_path / "from-dotenv"
    (ROOT / ".env").exists() and pytest.skip("a developer's own .env is in the way")
    (ROOT / ".env").write_text(f"VAR_DIR={var}\n")
    try:
        out = settings_in_subprocess({}, "from django.conf import settings as s; print(s.VAR_DIR)")
    finally:
        (ROOT / ".env").unlink()
    assert out == str(var)
    assert (var / "secret_key").exists()


def test_embedded_default_with_no_environment(tmp_path):
    out = settings_in_subprocess(
        {"VAR_DIR": str(tmp_path)},
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, s.DEBUG)",
    )
    assert out == "django.db.backends.sqlite3 True False"
    assert (tmp_path / "secret_key").exists()  # generated once, kept for restarts


def test_production_environment_uses_postgres_and_redis(tmp_path):
    out = settings_in_subprocess(
        {
            "VAR_DIR": str(tmp_path),
            "DATABASE_URL": "postgres://u:p@db.internal:5432/otp",
            "REDIS_URL": "redis://cache.internal:6379/0",
            "SECRET_KEY": "a-production-secret-key-" + "s" * 30,
            "OTP_HASH_KEY": "a-production-hash-key-" + "h" * 30,
            "OTP_ENCRYPTION_KEY": "a-production-encryption-key-" + "e" * 30,
        },
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['HOST'], "
        "s.CELERY_BROKER_URL, s.CELERY_TASK_ALWAYS_EAGER, s.CACHES['default']['BACKEND'])",
    )
    assert out == (
        "django.db.backends.postgresql db.internal redis://cache.internal:6379/0 False "
        "django.core.cache.backends.redis.RedisCache"
    )


PRODUCTION_ENV = {
    "SECRET_KEY": "x" * 30 + "-production-secret-key-with-enough-entropy-1234",
    "OTP_HASH_KEY": "another-long-random-key-for-hashing-codes-and-tokens",
    "OTP_ENCRYPTION_KEY": "a-third-long-random-key-for-encrypting-texts-at-rest",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "otp.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
}


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    """`manage.py check --deploy` failing on warnings, with only ``env`` set."""
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
    )


def test_production_settings_pass_check_deploy(tmp_path):
    result = check_deploy({**PRODUCTION_ENV, "VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_readmes_production_block_passes_check_deploy(tmp_path):
    """The README promises no warnings from `check --deploy` with its production
    environment: run that very block's exports."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Production", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    exports = block.split("python manage.py", 1)[0].replace("\\\n", " ")
    assert exports.strip().startswith("export ")
    env = {"VAR_DIR": str(tmp_path)}
    for pair in exports.strip().removeprefix("export ").split():
        name, _, value = pair.partition("=")
        env[name] = value if value != "..." else f"{name.lower()}-" + "r4nd0m" * 10
    result = check_deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
