"""Contact import and export as an operator with a real (and sometimes broken) list
uses them: every problem is reported, nothing is cut silently, no file causes a 500."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from streams.models import Contact, ContactField, ContactImport

pytestmark = pytest.mark.usefixtures("eager_tasks")


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


def upload(client, content: bytes | str, country: str = ""):
    if isinstance(content, str):
        content = content.encode()
    return client.post(
        "/contacts/import/",
        {"file": SimpleUploadedFile("contacts.csv", content), "country": country},
    )


def numbers(n: int, start: int = 0) -> list[str]:
    return [f"+1415555{start + i:04d}" for i in range(n)]


def test_a_nul_byte_rejects_its_row_not_the_request(signed_in):
    page = upload(signed_in, "phone,first_name\n+14155552671,A\x00a\n+14155550123,Bo\n")
    assert page.status_code == 200
    text = page.content.decode()
    assert "1 created, 0 updated, 1 rejected" in text
    assert "NUL byte" in text
    assert list(Contact.objects.values_list("phone", flat=True)) == ["+14155550123"]


def test_a_field_over_the_csv_modules_limit_rejects_its_row(signed_in):
    huge = "x" * 131_073
    page = upload(signed_in, f"phone,first_name\n+14155552671,{huge}\n+14155550123,Bo\n")
    assert page.status_code == 200
    text = page.content.decode()
    assert "1 created, 0 updated, 1 rejected" in text
    assert "131,073 characters" in text
    assert Contact.objects.count() == 1


def test_a_file_over_the_size_limit_is_refused_whole_and_nothing_is_imported(signed_in, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 1000
    rows = "\n".join(f"{n},Name" for n in numbers(100))
    page = upload(signed_in, "phone,first_name\n" + rows + "\n")
    assert page.status_code == 400
    assert "the limit is 1,000 bytes" in page.content.decode()
    assert Contact.objects.count() == 0


def test_a_file_that_is_not_utf8_is_refused_with_the_line(signed_in):
    page = upload(signed_in, b"phone,first_name\n+14155552671,Ren\xe9e\n")
    assert page.status_code == 400
    assert "not UTF-8 text (line 2)" in page.content.decode()
    assert Contact.objects.count() == 0


def test_duplicate_numbers_in_a_file_are_reported_and_the_first_is_kept(signed_in):
    page = upload(
        signed_in,
        "phone,first_name\n+14155552671,First\n(415) 555-2671,Second\n",
        country="US",
    ).content.decode()
    assert "1 created, 0 updated, 1 rejected" in page
    assert "The same number as row 2." in page
    assert Contact.objects.get().first_name == "First"


def test_unknown_columns_are_reported_once_for_the_file(signed_in, account):
    ContactField.objects.create(account=account, key="plan", name="Plan")
    rows = "".join(f"{n},Pro,x,y\n" for n in numbers(5))
    page = upload(signed_in, "phone,plan,shoe_size,Pet\n" + rows).content.decode()
    assert "5 created, 0 updated, 0 rejected" in page
    assert page.count("Columns ignored") == 1
    assert "pet, shoe_size" in page
    assert {c.custom_fields["plan"] for c in Contact.objects.all()} == {"Pro"}


def test_ten_thousand_rows_are_imported_in_the_request_with_updates_kept(signed_in, account):
    ContactField.objects.create(account=account, key="plan", name="Plan")
    Contact.objects.create(account=account, phone=numbers(1)[0], custom_fields={"plan": "Old"})
    body = "phone,first_name\n" + "".join(f"{n},N{i}\n" for i, n in enumerate(numbers(10_000)))
    page = upload(signed_in, body).content.decode()
    assert "10000 rows: 9999 created, 1 updated, 0 rejected" in page
    assert Contact.objects.filter(account=account).count() == 10_000
    kept = Contact.objects.get(phone=numbers(1)[0])
    assert (kept.first_name, kept.custom_fields) == ("N0", {"plan": "Old"})


def test_a_large_file_is_imported_in_the_background_with_its_progress_page(
    signed_in, settings, account, django_capture_on_commit_callbacks
):
    settings.CONTACT_IMPORT_INLINE_ROWS = 10
    body = "phone,first_name\n" + "".join(f"{n},N\n" for n in numbers(25)) + "nope,Bad\n"
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = upload(signed_in, body)
    assert response.status_code == 302
    job = ContactImport.objects.get()
    assert response["Location"] == f"/contacts/import/{job.pk}/"
    waiting = signed_in.get(response["Location"]).content.decode()
    assert "Queued" in waiting and "0 of 26 rows (0 %)" in waiting
    assert 'data-refresh-seconds="2"' in waiting
    for task in queued:  # the worker's turn (in-process here; test_worker runs a real one)
        task()
    page = signed_in.get(response["Location"]).content.decode()
    assert "Done" in page and "26 of 26 rows (100 %)" in page
    assert "25 created, 0 updated, 1 rejected" in page
    job.refresh_from_db()
    assert bytes(job.data) == b""  # the file is not kept once imported
    assert Contact.objects.filter(account=account).count() == 25


def test_an_import_job_runs_once_even_if_its_task_runs_twice(account):
    from streams.contact_import import parse_csv, run_contact_import

    data = b"phone\n+14155552671\n"
    job = ContactImport.objects.create(account=account, data=data, total_rows=1)
    assert parse_csv(data).row_count == 1
    run_contact_import(job.pk)
    run_contact_import(job.pk)
    job.refresh_from_db()
    assert (job.status, job.created, job.updated) == ("done", 1, 0)


def test_export_neutralises_formula_cells_and_keeps_phone_numbers(signed_in, account):
    ContactField.objects.create(account=account, key="note", name="Note")
    Contact.objects.create(
        account=account,
        phone="+14155552671",
        first_name='=HYPERLINK("http://evil.example","x")',
        last_name="-2+3",
        custom_fields={"note": "@SUM(A1)"},
    )
    response = signed_in.get("/contacts/export.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["phone", "first_name", "last_name", "note"]
    assert rows[1] == [
        "+14155552671",
        '\'=HYPERLINK("http://evil.example","x")',
        "'-2+3",
        "'@SUM(A1)",
    ]
