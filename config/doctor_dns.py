"""``manage.py doctor``'s DNS checks: does the sender domain's DNS let mailbox providers trust the newsletter?

Gmail's and Yahoo's bulk-sender rules ask for SPF, DKIM and a DMARC policy whose alignment passes. For the domain of
``DEFAULT_FROM_EMAIL`` this looks up, with dnspython (``DNS_NAMESERVERS`` picks the servers, default the system's):

- **SPF**: exactly one ``v=spf1`` TXT record, allowing the ESP's servers (``include:amazonses.com`` for SES; found
  through nested includes and redirects too, within SPF's limit of 10 lookups), never ``+all``;
- **DMARC**: a ``v=DMARC1`` TXT record at ``_dmarc.<domain>`` (or at a parent domain, as receivers fall back to the
  organizational domain), its policy, and its alignment modes;
- **DKIM** (Amazon SES): the CNAMEs ``<token>._domainkey.<domain>`` -> ``<token>.dkim.amazonses.com`` for the tokens
  SES's ``GetIdentityDkimAttributes`` lists for the domain. Other ESPs pick their own selectors per account, so
  their DKIM is left to their console (a warning says so).

Every failure prints the record to add.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.exceptions
import dns.exception
import dns.nameserver
import dns.resolver
from botocore.config import Config
from django.conf import settings

from config.esp import ESPS
from config.findings import Finding, sender_domain

SPF_LOOKUP_LIMIT = 10  # RFC 7208 4.6.4: more DNS-querying terms than this is a permanent error
DNS_LIFETIME = 5.0  # seconds per lookup, all retries included


class LookupFailed(Exception):
    """No usable answer from the nameservers (timeout, SERVFAIL): says nothing about the records themselves."""


def ses_client_params() -> dict[str, Any]:
    """boto3 client parameters from Anymail's settings, without its client config (doctor sets its own)."""
    configured = settings.ANYMAIL.get("AMAZON_SES_CLIENT_PARAMS")
    params: dict[str, Any] = dict(configured) if isinstance(configured, dict) else {}
    params.pop("config", None)
    return params


def ses_client() -> Any:
    """A boto3 SES client with short timeouts and no retries (shared with doctor's credentials check)."""
    config = Config(connect_timeout=5, read_timeout=10, retries={"total_max_attempts": 1})
    return boto3.client("ses", config=config, **ses_client_params())


def _nameserver(value: str) -> dns.nameserver.Do53Nameserver:
    host, port = value, 53
    if value.startswith("["):  # [IPv6]:port
        host, _, rest = value[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif value.count(":") == 1:  # IPv4:port (a bare IPv6 address has several colons)
        host, _, raw_port = value.partition(":")
        port = int(raw_port)
    return dns.nameserver.Do53Nameserver(host, port)


def make_resolver() -> dns.resolver.Resolver:
    if settings.DNS_NAMESERVERS:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [_nameserver(value) for value in settings.DNS_NAMESERVERS]
    else:
        resolver = dns.resolver.Resolver()
    resolver.lifetime = DNS_LIFETIME
    return resolver


def _lookup(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> list[Any]:
    """The records of ``rdtype`` at ``name``; empty when there are none (NXDOMAIN or no data)."""
    try:
        return list(resolver.resolve(name, rdtype, search=False))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.resolver.NoNameservers, dns.exception.Timeout, dns.resolver.YXDOMAIN) as exc:
        raise LookupFailed(f"{rdtype} {name}: {type(exc).__name__}") from exc


def txt_records(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    # A TXT record may be split into several strings of at most 255 bytes; receivers join them without spaces.
    return [b"".join(r.strings).decode("utf-8", "replace") for r in _lookup(resolver, name, "TXT")]


def _spf_records(resolver: dns.resolver.Resolver, domain: str) -> list[str]:
    return [t for t in txt_records(resolver, domain) if t.lower().split(" ", 1)[0] == "v=spf1"]


def _spf_allows(resolver: dns.resolver.Resolver, record: str, wanted: str, lookups: list[str]) -> bool:
    """Whether ``record`` reaches ``include:<wanted>``, following includes and redirects; ``lookups`` counts them."""
    for term in record.split()[1:]:
        mechanism, _, target = term.lstrip("+?~-").partition(":")
        if mechanism.lower() == "redirect" or term.lower().startswith("redirect="):
            mechanism, target = "include", term.partition("=")[2]
        if mechanism.lower() != "include" or not target:
            continue
        target = target.lower().rstrip(".")
        if target == wanted:
            return True
        lookups.append(target)
        if len(lookups) > SPF_LOOKUP_LIMIT:
            return False
        nested = _spf_records(resolver, target)
        if len(nested) == 1 and _spf_allows(resolver, nested[0], wanted, lookups):
            return True
    return False


def check_spf(resolver: dns.resolver.Resolver, domain: str, esp: str) -> Finding:
    include = ESPS[esp].spf_include
    suggestion = f'"v=spf1 include:{include} ~all"' if include else '"v=spf1 include:<your ESP\'s SPF domain> ~all"'
    records = _spf_records(resolver, domain)
    if not records:
        return Finding("SPF", False, f"no SPF record (TXT v=spf1) at {domain}", f"add TXT at {domain}: {suggestion}")
    if len(records) > 1:
        return Finding(
            "SPF",
            False,
            f"{len(records)} SPF records at {domain}: receivers treat more than one as an error",
            f"merge them into one TXT record at {domain}, e.g. {suggestion}",
        )
    record = records[0]
    if any(term.lower() in ("+all", "all") for term in record.split()[1:]):
        return Finding("SPF", False, f"SPF at {domain} ends in +all: it allows every server", "use ~all or -all")
    if not include:
        return Finding(
            "SPF",
            True,
            f"SPF at {domain}: {record}; whether it allows {esp}'s servers depends on your account",
            f"make sure it includes what {esp} lists for your domain",
            warning=True,
        )
    lookups: list[str] = []
    allowed = _spf_allows(resolver, record, include, lookups)
    if len(lookups) > SPF_LOOKUP_LIMIT:
        return Finding(
            "SPF",
            False,
            f"SPF at {domain} needs more than {SPF_LOOKUP_LIMIT} DNS lookups: receivers stop and fail it",
            "flatten nested includes you do not need",
        )
    if not allowed:
        return Finding(
            "SPF",
            False,
            f"SPF at {domain} does not allow {esp} (no include:{include}): {record}",
            f"add include:{include} before the all term of the TXT record at {domain}, e.g. {suggestion}",
        )
    return Finding("SPF", True, f"SPF at {domain} allows {esp} (include:{include})")


def _dmarc_tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        key, _, value = part.strip().partition("=")
        if key:
            tags[key.strip().lower()] = value.strip()
    return tags


def _dmarc_record(resolver: dns.resolver.Resolver, domain: str) -> tuple[str, str] | None:
    """(where, record): the domain's own, else the nearest parent's, as receivers fall back to the organizational
    domain (approximated by walking up the labels: no public-suffix list is consulted)."""
    labels = domain.split(".")
    for start in range(0, max(1, len(labels) - 1)):
        where = ".".join(labels[start:])
        records = [
            t for t in txt_records(resolver, f"_dmarc.{where}") if t.replace(" ", "").lower().startswith("v=dmarc1")
        ]
        if records:
            return where, records[0]
    return None


def check_dmarc(resolver: dns.resolver.Resolver, domain: str, *, dkim_checked: bool) -> list[Finding]:
    found = _dmarc_record(resolver, domain)
    if found is None:
        return [
            Finding(
                "DMARC",
                False,
                f"no DMARC record (TXT v=DMARC1) at _dmarc.{domain}: Gmail and Yahoo require one of bulk senders",
                f'add TXT at _dmarc.{domain}: "v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}" '
                "(then p=quarantine once the reports show your mail passing)",
            )
        ]
    where, record = found
    tags = _dmarc_tags(record)
    policy = tags.get("sp", tags.get("p", "")) if where != domain else tags.get("p", "")
    policy = policy.lower()
    if policy not in ("none", "quarantine", "reject"):
        return [
            Finding(
                "DMARC",
                False,
                f"DMARC at _dmarc.{where} has no valid policy (p={policy or 'missing'}): {record}",
                f'publish e.g. "v=DMARC1; p=none; rua=mailto:dmarc-reports@{where}"',
            )
        ]
    findings = [
        Finding(
            "DMARC",
            True,
            f"DMARC at _dmarc.{where}: policy {policy}"
            + (" (reports only: failing mail is still delivered)" if policy == "none" else ""),
            "move to p=quarantine once the aggregate reports show all your mail passing" if policy == "none" else "",
            warning=policy == "none",
        )
    ]
    adkim, aspf = tags.get("adkim", "r").lower(), tags.get("aspf", "r").lower()
    if adkim not in ("r", "s") or aspf not in ("r", "s"):
        findings.append(
            Finding("DMARC", False, f"DMARC alignment must be r or s (adkim={adkim}, aspf={aspf})", "fix the record")
        )
    elif dkim_checked:
        # The ESP signs with d=<the sender domain> (the DKIM check above), which aligns under relaxed and strict.
        findings.append(
            Finding("DMARC", True, f"alignment adkim={adkim}, aspf={aspf}: DKIM signs as {domain}, so it aligns")
        )
    else:
        findings.append(
            Finding(
                "DMARC",
                True,
                f"alignment adkim={adkim}, aspf={aspf}: passes only if the ESP signs DKIM with d={domain}",
                "set up the ESP's domain authentication (DKIM) for this domain",
                warning=True,
            )
        )
    if aspf == "s":
        findings.append(
            Finding(
                "DMARC",
                True,
                "strict SPF alignment (aspf=s): an ESP's bounce domain never matches, so DMARC rests on DKIM alone",
                "use aspf=r unless you send with a custom MAIL FROM equal to the From domain",
                warning=True,
            )
        )
    return findings


def check_ses_dkim(resolver: dns.resolver.Resolver, domain: str) -> Finding:
    try:
        attributes = ses_client().get_identity_dkim_attributes(Identities=[domain])["DkimAttributes"].get(domain, {})
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError) as exc:
        return Finding("DKIM", False, f"could not read SES's DKIM attributes for {domain}: {exc}", "retry")
    tokens = list(attributes.get("DkimTokens", []))
    if not tokens:
        return Finding(
            "DKIM",
            False,
            f"SES has no DKIM tokens for {domain} (Easy DKIM is not set up for the domain)",
            f"verify {domain} in the SES console with Easy DKIM, then publish the three CNAMEs it lists",
        )
    missing = []
    for token in tokens:
        name = f"{token}._domainkey.{domain}"
        targets = [str(r.target).lower().rstrip(".") for r in _lookup(resolver, name, "CNAME")]
        if not any(t.startswith(f"{token.lower()}.dkim.") and t.endswith(".amazonses.com") for t in targets):
            missing.append(f"CNAME {name} -> {token}.dkim.amazonses.com")
    if missing:
        return Finding(
            "DKIM",
            False,
            f"{len(missing)} of the {len(tokens)} DKIM CNAMEs SES expects are missing at {domain}",
            "add: " + "; ".join(missing),
        )
    if not attributes.get("DkimEnabled", False):
        return Finding(
            "DKIM", False, f"the CNAMEs are published but SES does not sign for {domain}", "enable Easy DKIM"
        )
    status = attributes.get("DkimVerificationStatus", "?")
    return Finding("DKIM", True, f"the {len(tokens)} CNAMEs SES expects are published at {domain} (SES: {status})")


def check_dns() -> list[Finding]:
    esp = settings.ESP
    domain = sender_domain()
    if not esp or "." not in domain:
        return []  # the embedded outbox sends nowhere; a bad sender address is check_sender_format's finding
    resolver = make_resolver()
    try:
        findings = [check_spf(resolver, domain, esp)]
        if esp == "amazon_ses":
            findings.append(check_ses_dkim(resolver, domain))
        else:
            findings.append(
                Finding(
                    "DKIM",
                    True,
                    f"{esp} picks DKIM selectors per account: not checked here",
                    f"publish the DKIM records {esp}'s console lists for {domain}",
                    warning=True,
                )
            )
        dkim_checked = findings[-1].ok and not findings[-1].warning
        findings.extend(check_dmarc(resolver, domain, dkim_checked=dkim_checked))
    except LookupFailed as exc:
        servers = ", ".join(settings.DNS_NAMESERVERS) or "the system's resolvers"
        return [
            Finding(
                "DNS", False, f"could not look up {domain}'s records ({exc}) via {servers}", "check DNS_NAMESERVERS"
            )
        ]
    return findings
