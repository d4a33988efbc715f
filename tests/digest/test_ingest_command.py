from __future__ import annotations

import io
import json
import re
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from digest.models import Appearance, DigestDocument, Paper, Source
from tests.digest.local_http import Route, local_server

FIXTURES = Path(__file__).parent / "fixtures"


def ingest(*args: str) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("ingest", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def _seed_paragraph_lines(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


@pytest.mark.django_db
def test_seed_folder_must_show(shared_dir: Path) -> None:
    out, error = ingest(str(shared_dir / "seeds"), "--date", "2025-06-01")
    assert error is None, out
    assert (DigestDocument.objects.count(), Appearance.objects.count(), Paper.objects.count()) == (2, 37, 32)
    assert sorted(DigestDocument.objects.values_list("listed_date", flat=True)) == [
        date(2025, 3, 14),
        date(2025, 3, 21),
    ]
    assert set(DigestDocument.objects.values_list("status", flat=True)) == {"parsed"}
    lines = set().union(*(_seed_paragraph_lines(p) for p in (shared_dir / "seeds").glob("*.txt")))
    for paper in Paper.objects.all():
        assert paper.title in lines  # exactly a line of the page
        assert paper.abstract in lines and len(paper.abstract) > len(paper.title)
        assert paper.abstract.endswith((".", "}", "/")) and paper.abstract[0].isupper()
    assert len(re.findall(r"^created ", out, re.M)) == 2
    assert "2 documents: 2 created, 0 unchanged, 0 reparsed, 0 failed; papers: 32 created, 5 updated" in out

    again, error = ingest(str(shared_dir / "seeds"), "--date", "2025-06-01")
    assert error is None
    assert "2 documents: 0 created, 2 unchanged, 0 reparsed, 0 failed; papers: 0 created, 0 updated" in again
    assert (DigestDocument.objects.count(), Appearance.objects.count(), Paper.objects.count()) == (2, 37, 32)


@pytest.mark.django_db
def test_api_json_must_show(shared_dir: Path) -> None:
    path = shared_dir / "formats" / "hf-daily-papers-api.json"
    out, error = ingest(str(path))
    assert error is None, out
    raw = json.loads(path.read_bytes())
    assert Paper.objects.count() == 29
    for item in raw:
        paper = Paper.objects.get(arxiv_id=item["paper"]["id"])
        assert paper.title == " ".join(item["paper"]["title"].split())
        assert paper.authors == [a["name"] for a in item["paper"]["authors"]]
        assert paper.upvotes == item["paper"]["upvotes"]
    assert DigestDocument.objects.get().format == "json"


@pytest.mark.django_db
def test_bad_inputs_fail_one_by_one_and_the_rest_is_ingested(tmp_path: Path, settings, shared_dir: Path) -> None:
    settings.INGEST_FETCH_TIMEOUT = 0.5
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "1-empty.txt").write_bytes(b"")
    (folder / "2-binary.bin").write_bytes(bytes(range(256)) * 64)
    (folder / "3-no-papers.html").write_bytes((FIXTURES / "no-papers.html").read_bytes())
    api = (shared_dir / "formats" / "hf-daily-papers-api.json").read_bytes()
    (folder / "4-truncated.json").write_bytes(api[: len(api) // 3])
    huge = folder / "5-huge.txt"
    with huge.open("wb") as handle:  # 50 MB without holding it in memory
        block = b"A title\n\nAn abstract that goes on.\n\n" * 1024
        while handle.tell() < 50 * 1024 * 1024:
            handle.write(block)
    (folder / "6-good.html").write_bytes((FIXTURES / "cards.html").read_bytes())

    with local_server({"/slow": Route(body=b"Mar 1\n\nLate\n\nToo late.", delay=5)}) as server:
        out, error = ingest(str(folder), server.url("/slow"), str(FIXTURES / "arxiv.rss"))

    assert error is not None and "6 of 8 documents failed" in str(error)
    reasons = {line.split()[1].rstrip(":"): line for line in out.splitlines() if line.startswith("failed")}
    assert "empty document" in reasons[str(folder / "1-empty.txt")]
    assert "binary data" in reasons[str(folder / "2-binary.bin")]
    assert "no papers found in the HTML" in reasons[str(folder / "3-no-papers.html")]
    assert "invalid JSON (truncated or malformed)" in reasons[str(folder / "4-truncated.json")]
    assert "over the INGEST_MAX_BYTES cap" in reasons[str(huge)]
    assert "timed out after 0.5 s" in reasons[server.url("/slow")]
    # The good ones went in; the four bad files are stored as failed documents with their reason and bytes.
    assert Paper.objects.count() == 5
    failed = DigestDocument.objects.filter(status="failed")
    assert failed.count() == 4
    assert all(doc.error for doc in failed)
    assert not DigestDocument.objects.filter(origin=str(huge)).exists()


@pytest.mark.django_db
def test_command_errors_are_clean(tmp_path: Path) -> None:
    out, error = ingest(str(tmp_path / "missing.txt"))
    assert "no such file, folder or http(s) URL" in out and error is not None
    with pytest.raises(CommandError, match="no Source named 'nope'"):
        call_command("ingest", str(tmp_path), "--source", "nope", stdout=io.StringIO())
    with pytest.raises(CommandError, match="not a date like 2025-03-14"):
        call_command("ingest", str(tmp_path), "--date", "14/03/2025", stdout=io.StringIO())


@pytest.mark.django_db
def test_format_override_and_source(tmp_path: Path) -> None:
    source = Source.objects.create(name="mirror", url="https://example.org/papers")
    page = tmp_path / "page.dat"
    page.write_bytes(b'{"x": 1}\n\nA Title That Is Text\n\nIts abstract.')
    out, error = ingest(str(page), "--format", "text", "--source", "mirror", "--date", "2025-02-02")
    assert error is None, out
    document = DigestDocument.objects.get()
    assert (document.source, document.format, document.listed_date) == (source, "text", date(2025, 2, 2))


@pytest.mark.django_db
def test_date_option_is_the_reference_for_a_date_without_a_year(tmp_path: Path) -> None:
    page = tmp_path / "nov.txt"
    page.write_text("Nov 6\n\nAn Autumn Paper\n\nListed in November.\n", encoding="utf-8")

    output, error = ingest(str(page), "--date", "2025-03-31")

    assert error is None, output
    document = DigestDocument.objects.get()
    assert document.listed_date == date(2024, 11, 6)  # never 2025-11-06, a day after the reference
    assert Appearance.objects.get().listed_date == date(2024, 11, 6)
    assert "listed 2024-11-06" in output
