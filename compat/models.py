"""Who may call the compatibility APIs, and the numeric ids one of them hands out."""

import secrets

from django.core.exceptions import ValidationError
from django.db import models


class CompatCredential(models.Model):
    """An account's login for one peer API: the peer's account identifier (VerifyNow's
    customer id, Octopush's api-login) and a secret we issued (the password whose base64
    is VerifyNow's ``key``, Octopush's ``api-key``), kept only as a keyed hash. The
    account picks the stream that serves the traffic and the event whose template
    gives the default text."""

    class Peer(models.TextChoices):
        VERIFYNOW = "verifynow", "VerifyNow (token / send / validateOtp)"
        OCTOPUSH = "octopush", "Octopush OTP (api-login / api-key)"

    account = models.ForeignKey(
        "streams.Account", on_delete=models.CASCADE, related_name="compat_credentials"
    )
    peer = models.CharField(max_length=10, choices=Peer.choices)
    login = models.CharField(
        max_length=190,
        help_text="VerifyNow: the customerId. Octopush: the api-login (usually an email).",
    )
    secret_hash = models.CharField(max_length=64, editable=False)
    secret_prefix = models.CharField(max_length=12, blank=True, editable=False)
    stream = models.ForeignKey(
        "streams.Stream",
        on_delete=models.PROTECT,
        related_name="compat_credentials",
        help_text="The stream whose codes, limits, allowed IPs and gateways serve this "
        "traffic. It must generate its codes.",
    )
    event_key = models.CharField(
        max_length=64,
        help_text="The stream's event template used for the text (VerifyNow always; "
        "Octopush when the request has no text).",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        # The table the model had when it lived in ``otp``: moving apps kept the rows
        # where they were (compat/migrations/0001_initial.py).
        db_table = "otp_compatcredential"
        verbose_name = "compatibility credential"
        ordering = ["peer", "login"]
        constraints = [
            models.UniqueConstraint(fields=["peer", "login"], name="unique_compat_login"),
            models.CheckConstraint(
                condition=models.Q(peer__in=["verifynow", "octopush"]), name="compat_peer"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_peer_display()}: {self.login}"

    def clean(self) -> None:
        errors = {}
        if self.stream_id and self.account_id and self.stream.account_id != self.account_id:
            errors["stream"] = "The stream belongs to another account."
        elif self.stream_id and not self.stream.platform_generates_code:
            errors["stream"] = (
                "The peers' clients never send codes: pick a stream that generates them."
            )
        elif (
            self.stream_id and self.peer == self.Peer.VERIFYNOW and self.stream.is_customized_sender
        ):
            errors["stream"] = (
                "VerifyNow requests name no sender: pick a stream with a default sender."
            )
        elif (
            self.stream_id
            and self.event_key
            and not self.stream.templates.filter(key=self.event_key, enabled=True).exists()
        ):
            errors["event_key"] = "The stream has no enabled event template with this key."
        if errors:
            raise ValidationError(errors)


def random_reference() -> int:
    """A random id below 2**53: a JSON number keeps it exactly in every language, and
    guessing one is no shortcut to another customer's verification."""
    return secrets.randbelow(2**53 - 1) + 1


class CompatReference(models.Model):
    """VerifyNow's clients keep ``verificationId`` as a number (a Java ``Long``): this
    gives a verification one."""

    id = models.BigIntegerField(primary_key=True, default=random_reference, editable=False)
    verification = models.OneToOneField(
        "otp.Verification", on_delete=models.CASCADE, related_name="compat_reference"
    )

    class Meta:
        db_table = "otp_compatreference"

    def __str__(self) -> str:
        return str(self.id)
