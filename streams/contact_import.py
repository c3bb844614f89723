"""Importing contacts from CSV, the way an operator with a real list needs it.

The whole file is checked before anything is written: a file over the size limit, not
UTF-8, not CSV or without a ``phone`` column is refused as a whole, with the reason, and
nothing changes (never a silent cut). Inside a good file each row stands alone: a row
with a NUL byte, an over-long field, a bad phone number or the number of an earlier row
is reported with its row number and left out; columns that are not contact fields of the
account are reported once for the file. The good rows are written in bulk, in one
transaction. Files of more than ``CONTACT_IMPORT_INLINE_ROWS`` rows are imported by a
worker (:class:`~streams.models.ContactImport` keeps the file and the progress).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from . import locales, validators
from .models import Account, Contact, ContactImport

STANDARD_COLUMNS = ("phone", "first_name", "last_name", "locale")
FIELD_MAX_CHARS = 1000  # a name or a custom field value, not a document
REJECTED_KEPT = 1000  # rows listed in a report; the count covers them all
CHUNK = 1000


class ImportRefused(Exception):
    """The file as a whole cannot be imported; nothing was written."""


@dataclass
class ImportReport:
    total: int = 0
    created: int = 0
    updated: int = 0
    rejected_count: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (row, value, why)
    ignored_columns: list[str] = field(default_factory=list)

    def reject(self, row: int, value: str, why: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < REJECTED_KEPT:
            self.rejected.append((row, value[:40], why))


@dataclass
class ParsedFile:
    columns: list[str]
    rows: list[tuple[int, list[str]]]  # (row number in the file, cells)

    @property
    def row_count(self) -> int:
        return len(self.rows)


def max_bytes() -> int:
    return settings.CONTACT_IMPORT_MAX_BYTES


def parse_csv(data: bytes) -> ParsedFile:
    """The file's header and rows, or :class:`ImportRefused` saying what is wrong."""
    limit = max_bytes()
    if len(data) > limit:
        raise ImportRefused(
            f"The file is {len(data):,} bytes; the limit is {limit:,} bytes. "
            "Split it into smaller files."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRefused(f"The file is not UTF-8 text (line {line}).") from None
    # Field lengths are checked per row below, so the csv module's own limit (which
    # would stop the whole file at the first long field) is lifted to the file's size.
    csv.field_size_limit(max(len(text) + 1, 131072))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header or "phone" not in [c.strip().lower() for c in header]:
            raise ImportRefused("The first row must name the columns, one of them phone.")
        columns = [c.strip().lower() for c in header]
        rows = [(reader.line_num, cells) for cells in reader if any(c.strip() for c in cells)]
    except csv.Error as exc:
        raise ImportRefused(f"The file is not CSV (line {reader.line_num}): {exc}.") from None
    return ParsedFile(columns=columns, rows=rows)


def import_contacts(
    *,
    account: Account,
    parsed: ParsedFile,
    country: str = "",
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Create or update the account's contacts from a parsed file; see the module."""
    report = ImportReport(total=parsed.row_count)
    known = set(account.custom_field_keys())
    report.ignored_columns = sorted(
        {c for c in parsed.columns if c and c not in STANDARD_COLUMNS and c not in known}
    )
    first_row_of: dict[str, int] = {}
    valid: dict[str, dict] = {}
    for done, (number, cells) in enumerate(parsed.rows, start=1):
        values = _row_values(parsed.columns, cells)
        raw = values.get("phone", "")
        why = _row_problem(values)
        if why is None:
            try:
                phone = validators.normalize_phone(raw, country or None)
            except ValidationError as exc:
                why = exc.messages[0]
            else:
                if phone in first_row_of:
                    why = f"The same number as row {first_row_of[phone]}."
        if why is not None:
            report.reject(number, raw, why)
        else:
            first_row_of[phone] = number
            valid[phone] = {
                "first_name": values.get("first_name", ""),
                "last_name": values.get("last_name", ""),
                # Without a locale column, contacts keep theirs.
                "locale": (locales.normalize_locale_or_none(values["locale"]) or "")
                if "locale" in values
                else None,
                "custom": {k: v for k, v in values.items() if k in known and v},
            }
        if progress and done % CHUNK == 0:
            progress(done)  # rows checked; the bulk writes after them are quick
    with transaction.atomic():
        for chunk in _chunks(list(valid.items()), CHUNK):
            created, updated = _write(account, dict(chunk))
            report.created += created
            report.updated += updated
    return report


def _row_values(columns: list[str], cells: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, cell in zip(columns, cells, strict=False):
        if name and name not in values:
            values[name] = cell.strip()
    return values


def _row_problem(values: dict[str, str]) -> str | None:
    for name, value in values.items():
        if "\x00" in value:
            return f"The {name} column holds a NUL byte."
        if len(value) > FIELD_MAX_CHARS:
            return f"The {name} column has {len(value):,} characters; at most {FIELD_MAX_CHARS:,}."
    for name in ("first_name", "last_name"):
        if len(values.get(name, "")) > 100:
            return f"The {name} column has more than 100 characters."
    tag = values.get("locale", "")
    if tag and locales.normalize_locale_or_none(tag) is None:
        return f"The locale {tag[:20]!r} is not a language tag: {locales.LOCALE_HELP}"
    return None


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _write(account: Account, rows: dict[str, dict]) -> tuple[int, int]:
    """Upsert one chunk: existing contacts keep the custom fields the file leaves out."""
    existing = {c.phone: c for c in Contact.objects.filter(account=account, phone__in=list(rows))}
    now = timezone.now()
    new, changed = [], []
    for phone, row in rows.items():
        contact = existing.get(phone)
        if contact is None:
            new.append(
                Contact(
                    account=account,
                    phone=phone,
                    first_name=row["first_name"],
                    last_name=row["last_name"],
                    locale=row["locale"] or "",
                    custom_fields=row["custom"],
                )
            )
            continue
        contact.first_name, contact.last_name = row["first_name"], row["last_name"]
        if row["locale"] is not None:
            contact.locale = row["locale"]
        contact.custom_fields = {**contact.custom_fields, **row["custom"]}
        contact.updated_at = now
        changed.append(contact)
    Contact.objects.bulk_create(new, batch_size=CHUNK)
    Contact.objects.bulk_update(
        changed,
        ["first_name", "last_name", "locale", "custom_fields", "updated_at"],
        batch_size=CHUNK,
    )
    return len(new), len(changed)


# --- Large files: imported by a worker ---------------------------------------------------


def start_contact_import(
    *, account: Account, user, data: bytes, country: str, parsed: ParsedFile
) -> ContactImport:
    """Keep the file and queue its import (after commit)."""
    job = ContactImport.objects.create(
        account=account,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        data=data,
        country=country,
        total_rows=parsed.row_count,
    )
    from .tasks import run_contact_import_task

    transaction.on_commit(lambda: run_contact_import_task.delay(job.pk))
    return job


def run_contact_import(job_id: int) -> None:
    """The worker's half: claim the job (a second run does nothing), import, report."""
    if not ContactImport.objects.filter(pk=job_id, status=ContactImport.Status.QUEUED).update(
        status=ContactImport.Status.RUNNING, started_at=timezone.now()
    ):
        return
    job = ContactImport.objects.select_related("account").get(pk=job_id)

    def progress(done: int) -> None:
        ContactImport.objects.filter(pk=job_id).update(processed_rows=done)

    try:
        parsed = parse_csv(bytes(job.data))
        report = import_contacts(
            account=job.account, parsed=parsed, country=job.country, progress=progress
        )
    except ImportRefused as exc:
        job.finish_failed(str(exc))
        return
    job.finish(report)
