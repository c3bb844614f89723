import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from gateways.prices import import_prices


class Command(BaseCommand):
    help = (
        "Import the price table from CSV: country,channel,gateway,amount[,currency] "
        "(gateway empty: any gateway). All rows or none."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("csv_file", help="Path of the CSV file, or - for standard input.")

    def handle(self, *args, csv_file: str, **options) -> None:
        if csv_file == "-":
            report = import_prices(sys.stdin)
        else:
            path = Path(csv_file)
            if not path.is_file():
                raise CommandError(f"No such file: {csv_file}")
            with path.open(newline="", encoding="utf-8-sig") as lines:
                report = import_prices(lines)
        if not report.ok:
            raise CommandError("Nothing imported:\n" + "\n".join(report.errors))
        self.stdout.write(f"Prices: {report.created} created, {report.updated} updated.")
