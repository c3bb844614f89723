from django.core.management.base import BaseCommand, CommandError

from streams import services
from streams.models import Stream


class Command(BaseCommand):
    help = "Issue a new API token for a stream and print it once. The old token stops working."

    def add_arguments(self, parser) -> None:
        parser.add_argument("stream_id", type=int)

    def handle(self, *args, stream_id: int, **options) -> None:
        try:
            stream = Stream.objects.get(pk=stream_id)
        except Stream.DoesNotExist as exc:
            raise CommandError(f"No stream with id {stream_id}.") from exc
        try:
            token = services.rotate_token(stream=stream)
        except services.Refused as refusal:
            raise CommandError(str(refusal)) from refusal
        self.stdout.write(f"New API token for stream {stream.pk} ({stream.name}):\n{token}\n")
        self.stdout.write("It is shown only now; the previous token no longer works.\n")
