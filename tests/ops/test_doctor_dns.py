"""``manage.py doctor``'s DNS checks against a small DNS server on loopback (tests/support/dns_server.py).

The command itself runs as a subprocess, as an operator runs it; the finer cases call the checks in-process against
the same server, with moto's SES answering the DKIM attribute lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from config.doctor_dns import check_dns
from config.findings import Finding
from tests.ops.conftest import PRODUCTION_ENV, manage
from tests.ops.dns_zones import good_records, ses_dkim_tokens
from tests.support.dns_server import dns_server
from tests.support.services import MotoSES, database_url_for, free_port

DOMAIN = "example.com"


@pytest.fixture
def env(postgres: None, redis_url: str, ses: MotoSES, tmp_path: Path) -> dict[str, str]:
    from django.db import connection

    return {
        **PRODUCTION_ENV,
        **ses.env(),
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "REDIS_URL": redis_url,
    }


def test_a_domain_without_dmarc_fails_naming_it_and_what_to_add(env: dict[str, str], ses: MotoSES) -> None:
    with dns_server(good_records(ses, DOMAIN, dmarc=None)) as dns:
        result = manage("doctor", env={**env, "DNS_NAMESERVERS": dns.nameserver})
    assert result.returncode == 1, result.stdout
    out = result.stdout
    assert "ok  SPF: SPF at example.com allows amazon_ses (include:amazonses.com)" in out
    assert "ok  DKIM: the 3 CNAMEs SES expects are published at example.com" in out
    assert "FAIL DMARC: no DMARC record (TXT v=DMARC1) at _dmarc.example.com" in out
    assert 'fix: add TXT at _dmarc.example.com: "v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com"' in out
    assert "CommandError: 1 problem(s) to fix" in result.stderr
    # Looked up where receivers look: the domain's own record, then (for a subdomain) its parents.
    assert ("_dmarc.example.com.", "TXT") in dns.queries


def test_a_domain_with_good_records_passes(env: dict[str, str], ses: MotoSES) -> None:
    with dns_server(good_records(ses, DOMAIN)) as dns:
        result = manage("doctor", env={**env, "DNS_NAMESERVERS": dns.nameserver})
    assert result.returncode == 0, result.stdout
    assert "ok  DMARC: alignment adkim=r, aspf=r: DKIM signs as example.com, so it aligns" in result.stdout
    tokens = ses_dkim_tokens(ses, DOMAIN)
    assert {(f"{t}._domainkey.example.com.", "CNAME") for t in tokens} <= set(dns.queries)


def test_a_bad_nameserver_setting_stops_the_process(tmp_path: Path) -> None:
    result = manage("check", env={**PRODUCTION_ENV, "VAR_DIR": str(tmp_path), "DNS_NAMESERVERS": "ns1.example.net"})
    assert result.returncode != 0
    assert "DNS_NAMESERVERS: 'ns1.example.net' is not an IP address, IP:PORT or [IPv6]:PORT." in result.stderr


# --- The checks in-process -------------------------------------------------------------------------------------


@pytest.fixture
def doctor(ses: MotoSES, settings, db) -> Iterator[Callable[..., list[Finding]]]:
    """Run the DNS checks for papers@example.com through SES against a zone given by the test."""
    settings.ESP = "amazon_ses"

    def run(records: dict[tuple[str, str], list[str]], *, sender: str = "papers@example.com") -> list[Finding]:
        settings.DEFAULT_FROM_EMAIL = f"Trending Papers <{sender}>"
        with dns_server(records) as dns:
            settings.DNS_NAMESERVERS = [dns.nameserver]
            run.dns = dns  # type: ignore[attr-defined]  # what was queried, for the test to read
            return check_dns()

    yield run


def by_name(findings: list[Finding], name: str) -> list[Finding]:
    return [f for f in findings if f.name == name]


def failed(findings: list[Finding]) -> list[str]:
    return [f.name for f in findings if not f.ok]


def test_spf_that_does_not_allow_the_esp_fails_with_the_include_to_add(doctor, ses: MotoSES) -> None:
    records = good_records(ses, DOMAIN)
    records[(DOMAIN, "TXT")] = ["v=spf1 include:_spf.google.com ~all"]
    (spf,) = by_name(doctor(records), "SPF")
    assert not spf.ok
    assert spf.detail == "SPF at example.com does not allow amazon_ses (no include:amazonses.com): " + (
        "v=spf1 include:_spf.google.com ~all"
    )
    assert "include:amazonses.com" in spf.fix


def test_spf_found_through_a_nested_include_passes(doctor, ses: MotoSES) -> None:
    records = good_records(ses, DOMAIN)
    records[(DOMAIN, "TXT")] = ["v=spf1 include:_spf.example.com -all"]
    records[("_spf.example.com", "TXT")] = ["v=spf1 ip4:192.0.2.1 redirect=_spf2.example.com"]
    records[("_spf2.example.com", "TXT")] = ["v=spf1 include:amazonses.com ~all"]
    findings = doctor(records)
    assert failed(findings) == []
    assert by_name(findings, "SPF")[0].detail == "SPF at example.com allows amazon_ses (include:amazonses.com)"


@pytest.mark.parametrize(
    ("txt", "detail"),
    [
        ([], "no SPF record (TXT v=spf1) at example.com"),
        (["v=spf1 include:amazonses.com ~all", "v=spf1 mx -all"], "2 SPF records at example.com"),
        (["v=spf1 include:amazonses.com +all"], "SPF at example.com ends in +all: it allows every server"),
    ],
)
def test_missing_doubled_or_open_spf_fails(doctor, ses: MotoSES, txt: list[str], detail: str) -> None:
    records = good_records(ses, DOMAIN)
    records[(DOMAIN, "TXT")] = txt
    (spf,) = by_name(doctor(records), "SPF")
    assert not spf.ok and spf.detail.startswith(detail)


def test_spf_include_loops_stop_at_the_lookup_limit(doctor, ses: MotoSES) -> None:
    records = good_records(ses, DOMAIN)
    records[(DOMAIN, "TXT")] = ["v=spf1 include:loop.example.com ~all"]
    records[("loop.example.com", "TXT")] = ["v=spf1 include:loop.example.com ~all"]
    (spf,) = by_name(doctor(records), "SPF")
    assert not spf.ok and "more than 10 DNS lookups" in spf.detail
    assert len(doctor.dns.queries) < 20


def test_a_missing_dkim_cname_is_named_with_its_target(doctor, ses: MotoSES) -> None:
    records = good_records(ses, DOMAIN)
    first = ses_dkim_tokens(ses, DOMAIN)[0]
    del records[(f"{first}._domainkey.{DOMAIN}", "CNAME")]
    findings = doctor(records)
    (dkim,) = by_name(findings, "DKIM")
    assert not dkim.ok
    assert dkim.detail == "1 of the 3 DKIM CNAMEs SES expects are missing at example.com"
    assert dkim.fix == f"add: CNAME {first}._domainkey.example.com -> {first}.dkim.amazonses.com"
    # Without DKIM in place, DMARC alignment is not claimed.
    alignment = by_name(findings, "DMARC")[1]
    assert alignment.warning and "passes only if the ESP signs DKIM with d=example.com" in alignment.detail


def test_dmarc_at_the_parent_domain_covers_a_subdomain_sender(doctor, ses: MotoSES) -> None:
    import boto3

    boto3.client("ses", **ses.client_params()).verify_domain_identity(Domain="news.example.com")
    records = good_records(ses, "news.example.com", dmarc=None)
    records[("_dmarc.example.com", "TXT")] = ["v=DMARC1; p=reject; sp=quarantine; adkim=s"]
    findings = doctor(records, sender="papers@news.example.com")
    assert failed(findings) == []
    assert by_name(findings, "DMARC")[0].detail == "DMARC at _dmarc.example.com: policy quarantine"
    assert ("_dmarc.news.example.com.", "TXT") in doctor.dns.queries


def test_a_monitoring_only_policy_and_strict_spf_alignment_are_warnings(doctor, ses: MotoSES) -> None:
    findings = doctor(good_records(ses, DOMAIN, dmarc="v=DMARC1; p=none; aspf=s"))
    assert failed(findings) == []
    warnings = [f.detail for f in by_name(findings, "DMARC") if f.warning]
    assert warnings[0] == "DMARC at _dmarc.example.com: policy none (reports only: failing mail is still delivered)"
    assert warnings[1].startswith("strict SPF alignment (aspf=s)")


def test_a_dmarc_record_without_a_valid_policy_fails(doctor, ses: MotoSES) -> None:
    (dmarc,) = by_name(doctor(good_records(ses, DOMAIN, dmarc="v=DMARC1; p=block")), "DMARC")
    assert not dmarc.ok and "no valid policy (p=block)" in dmarc.detail


def test_another_esp_checks_its_own_spf_include_and_leaves_dkim_to_its_console(doctor, ses, settings) -> None:
    settings.ESP = "mailgun"
    findings = doctor(good_records(ses, DOMAIN))
    (spf,) = by_name(findings, "SPF")
    assert not spf.ok and "does not allow mailgun (no include:mailgun.org)" in spf.detail
    (dkim,) = by_name(findings, "DKIM")
    assert dkim.ok and dkim.warning and "mailgun picks DKIM selectors per account" in dkim.detail


def test_an_unreachable_nameserver_is_one_clear_failure(ses: MotoSES, settings, db) -> None:
    settings.ESP = "amazon_ses"
    settings.DNS_NAMESERVERS = [f"127.0.0.1:{free_port()}"]
    findings = check_dns()
    assert [(f.name, f.ok) for f in findings] == [("DNS", False)]
    assert "could not look up example.com's records" in findings[0].detail
    assert findings[0].fix == "check DNS_NAMESERVERS"


def test_no_esp_means_no_dns_checks(settings) -> None:
    settings.ESP = ""
    assert check_dns() == []
