"""DNS records for the doctor's tests, written as an operator following the README would publish them."""

from __future__ import annotations

from tests.support.services import MotoSES


def ses_dkim_tokens(ses: MotoSES, domain: str) -> list[str]:
    """The tokens SES (moto) lists for the domain's Easy DKIM: read from the API, as doctor reads them."""
    import boto3

    client = boto3.client("ses", **ses.client_params())
    attributes = client.get_identity_dkim_attributes(Identities=[domain])["DkimAttributes"][domain]
    tokens = list(attributes.get("DkimTokens", []))
    assert len(tokens) == 3, attributes
    return tokens


def good_records(ses: MotoSES, domain: str, *, dmarc: str | None = "v=DMARC1; p=quarantine; rua=mailto:d@{d}"):
    """SPF allowing SES (and Postmark, for the Postmark doctor test), the three SES DKIM CNAMEs, and DMARC."""
    records: dict[tuple[str, str], list[str]] = {
        (domain, "TXT"): ["v=spf1 include:amazonses.com include:spf.mtasv.net ~all", "google-site-verification=x"],
        (domain, "MX"): ["10 inbound-smtp.us-east-1.amazonaws.com."],
    }
    for token in ses_dkim_tokens(ses, domain):
        records[(f"{token}._domainkey.{domain}", "CNAME")] = [f"{token}.dkim.amazonses.com."]
    if dmarc is not None:
        records[(f"_dmarc.{domain}", "TXT")] = [dmarc.format(d=domain)]
    return records
