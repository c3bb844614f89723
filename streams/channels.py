"""How a code reaches its recipient. One set of choices for the verification that asks
for a channel and the outbound message that uses it, so the two cannot drift."""

from django.db import models


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    VOICE = "voice", "Voice"
