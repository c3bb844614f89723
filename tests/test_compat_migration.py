"""The compat models moved from the otp app to their own: a database migrated with the
old layout (the models in otp, up to ``otp 0003_compat_credentials``) migrates forward
with its credentials, its VerifyNow references and the permissions given on them
intact, and the peers' clients carry on. (A new database is built by every other test
run: the test database is migrated from nothing.)"""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from compat.credentials import hash_secret
from compat.models import CompatCredential, CompatReference
from otp.models import Verification
from tests.support import factories
from tests.support.compat_clients import VerifyNowClient
from tests.support.otp_client import OtpClient, latest_code

pytestmark = pytest.mark.usefixtures("eager_tasks")

OLD_LAYOUT = [("otp", "0003_compat_credentials"), ("compat", None)]
PHONE = "+919990655875"
SECRET = "a-secret-issued-before-the-move"


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)  # a fresh loader sees what is applied now


@pytest.fixture
def latest_layout_after(transactional_db):
    """The test database back at the latest migrations afterwards, even if the test
    fails half-way (the next tests need it)."""
    yield
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.usefixtures("latest_layout_after")
def test_a_database_migrated_with_the_old_layout_keeps_its_compat_rows():
    account = factories.make_account()
    sender = factories.make_sender(account, "Acme")
    stream, stream_token = factories.make_stream(account, default_sender=sender)
    # A code sent before the upgrade, through the engine's API (unchanged by the move).
    sent = OtpClient(stream_token).send(recipient=PHONE)
    assert sent.status_code == 201, sent.content
    code = latest_code(PHONE)

    executor = migrate(OLD_LAYOUT)
    old_apps = executor.loader.project_state(OLD_LAYOUT[0]).apps
    # The content types (and the permissions on them) are back under otp, as the old
    # layout's post_migrate made them.
    ContentType.objects.clear_cache()
    permission = Permission.objects.get(
        content_type__app_label="otp", codename="change_compatcredential"
    )
    assert not ContentType.objects.filter(app_label="compat").exists()
    OldCredential = old_apps.get_model("otp", "CompatCredential")
    OldReference = old_apps.get_model("otp", "CompatReference")
    old_credential = OldCredential.objects.create(
        account_id=account.pk,
        peer="verifynow",
        login="C-BEFORE-THE-MOVE",
        secret_hash=hash_secret(SECRET),
        secret_prefix=SECRET[:6],
        stream_id=stream.pk,
        event_key="login",
    )
    # Only the id: the current model has columns (otp 0005) the old layout lacks.
    verification_id = Verification.objects.values_list("pk", flat=True).get()
    reference = OldReference.objects.create(verification_id=verification_id)
    operator = factories.make_user()
    operator.user_permissions.add(permission)

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()

    credential = CompatCredential.objects.get(login="C-BEFORE-THE-MOVE")
    assert credential.pk == old_credential.pk
    assert credential.stream == stream
    assert CompatReference.objects.get().verification.recipient == PHONE
    operator = type(operator).objects.get(pk=operator.pk)
    assert operator.has_perm("compat.change_compatcredential")

    # The peer's client signs in with the secret issued before the move, and checks the
    # code whose verificationId it was given before it.
    client = VerifyNowClient(credential.login, SECRET)
    assert client.token().status_code == 200
    validated = client.validate(str(reference.pk), code)
    assert validated.status_code == 200, validated.content
    assert validated.json()["data"]["verificationStatus"] == "VERIFICATION_COMPLETED"
    sent = client.send()
    assert sent.status_code == 200, sent.content
