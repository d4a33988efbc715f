"""What the fuzz pass (tests/e2e/test_fuzz.py, bench/fuzz.py) sends: URLs from the URLconf, hostile values, a tally.

Endpoints are read from the project's URLconf at run time, so a URL added later is fuzzed without anyone listing
it. Each is requested at paths its own regex generates (hypothesis ``from_regex``) and at paths reversed with real
ids and genuine tokens, so the views get past "not found" too.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from django.http import HttpResponse, StreamingHttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import strategies as st

from config.variables import read_int

# Scales every example budget: 1 in the suite (well under a minute), e.g. 20 for bench/fuzz.py's long pass.
SCALE = read_int("FUZZ_SCALE")
# The longest generated value in a body; the long pass raises it past Django's 2.5 MB upload limit.
HUGE = read_int("FUZZ_HUGE")
# The longest in a URL or a header: front servers refuse more before Django sees it (gunicorn's request line
# stops at 4,094 bytes, nginx's header buffers at 8 kB).
IN_URL = 8_000

NUL = "\x00"
SPECIAL_VALUES = [
    "",
    NUL,
    "a\x00b",
    "%00",
    "0",
    "-1",
    "-0",
    "1e309",
    "nan",
    "inf",
    "9" * 30,
    "-" + "9" * 30,
    str(2**63),
    str(-(2**63) - 1),
    str(2**31),
    "0001-01-01",
    "9999",
    "10000",
    "9999-12-31",
    "10000-01-01",
    "2024-02-30",
    "0000-00-00",
    "-2024-01-01",
    "1970-01-01T00:00:00Z",
    "null",
    "true",
    "[]",
    "{}",
    "'",
    '"',
    "(",
    "[",
    "\\",
    "*",
    "%",
    "_",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "\u202e",
    "\ufeff",
    "😀",
    "İß",
    "a@b",
    "x@example.org",
    "x\r\nBcc: y@example.org",
    "a" * 250 + "@example.org",
    "daily",
    "weekly",
    "1",
    "1.2.-3.99.x",
    "on",
]
# Parameter names the views and admin read, mixed with random ones.
COMMON_KEYS = [
    "q",
    "o",
    "p",
    "e",
    "all",
    "page",
    "strict",
    "_popup",
    "_to_field",
    "_changelist_filters",
    "email",
    "keywords",
    "frequency",
    "time_zone",
    "website",
    "List-Unsubscribe",
    "action",
    "_selected_action",
    "index",
    "select_across",
    "post",
    "date",
    "format",
    "listed_date",
    "source",
    "term",
    "app_label",
    "model_name",
    "field_name",
    "next",
    "username",
    "password",
    "subject",
    "intro",
    "status",
    "reason",
    "name",
]
LOOKUPS = ["", "exact", "iexact", "in", "isnull", "gt", "gte", "lt", "range", "contains", "icontains"]
LOOKUPS += ["startswith", "regex", "iregex", "year", "month", "day", "week_day", "date", "hour", "has_key", "0"]


def values(longest: int = IN_URL) -> st.SearchStrategy[str]:
    # Hypothesis picks each branch about equally often: the hand-picked hostile values get two shares.
    return st.one_of(
        st.sampled_from(SPECIAL_VALUES),
        st.sampled_from(SPECIAL_VALUES),
        st.text(max_size=30),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.dates().map(date.isoformat),
        st.text(max_size=5).map(lambda s: f"{s}{NUL}{s}"),
        st.sampled_from(sorted({1_000, min(20_000, longest), longest})).map(lambda n: "x" * n),
    )


def params(
    keys: st.SearchStrategy[str] | None = None, *, min_size: int = 0, longest: int = IN_URL
) -> st.SearchStrategy[dict[str, list[str]]]:
    if keys is None:
        keys = st.one_of(st.sampled_from(COMMON_KEYS), st.text(min_size=1, max_size=20))
    return st.dictionaries(keys, st.lists(values(longest), min_size=1, max_size=3), min_size=min_size, max_size=4)


@dataclass(frozen=True)
class Endpoint:
    regex: str  # the whole path, anchored
    name: str  # namespaced URL name ("" when the pattern has none)
    groups: tuple[str, ...]
    csrf_exempt: bool
    module: str  # where the view is defined: the project's own, Django's admin, Anymail

    def path_strategy(self, known: list[str]) -> st.SearchStrategy[str]:
        generated = st.from_regex(self.regex, fullmatch=True).map(lambda p: quote(p, safe="/"))
        return st.one_of(generated, st.sampled_from(known)) if known else generated


def _piece(pattern: Any) -> str:
    regex = pattern.regex.pattern
    regex = regex.removeprefix("^")
    for end in (r"\Z", "$"):
        regex = regex.removesuffix(end)
    return regex


def endpoints() -> list[Endpoint]:
    """Every URL pattern the project answers, in URLconf order."""
    found: list[Endpoint] = []

    def walk(patterns: list[Any], pieces: tuple[str, ...], namespace: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, (*pieces, _piece(entry.pattern)), inner)
            elif isinstance(entry, URLPattern):
                regex = "^/" + "".join((*pieces, _piece(entry.pattern))) + r"\Z"
                found.append(
                    Endpoint(
                        regex=regex,
                        name=f"{namespace}{entry.name}" if entry.name else "",
                        groups=tuple(re.compile(regex).groupindex),
                        csrf_exempt=bool(getattr(entry.callback, "csrf_exempt", False)),
                        module=getattr(entry.callback, "__module__", "") or "",
                    )
                )

    walk(get_resolver().url_patterns, (), "")
    return found


@dataclass
class Failure:
    endpoint: str
    method: str
    path: str
    status: int
    detail: str


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    endpoints: set[str] = field(default_factory=set)

    def record(self, endpoint: str, method: str, path: str, response: HttpResponse) -> None:
        self.requests += 1
        status = response.status_code
        detail = ""
        exc_info = getattr(response, "exc_info", None)
        if exc_info:
            detail = f"{exc_info[0].__name__}: {str(exc_info[1])[:200]}"
        elif isinstance(response, StreamingHttpResponse):
            # An error while streaming (after the 200 went out) is a broken download: count it as a 5xx.
            try:
                for _chunk in response.streaming_content:
                    pass
            except Exception as exc:
                status, detail = 599, f"while streaming: {type(exc).__name__}: {str(exc)[:200]}"
        self.statuses[status] += 1
        if status >= 500:
            self.failures.append(Failure(endpoint, method, path[:300], status, detail))

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def summary(self, label: str) -> str:
        codes = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
        return (
            f"fuzz {label}: {self.requests} requests over {len(self.endpoints)} endpoints, "
            f"{self.server_errors} responses 5xx ({codes})"
        )

    def report(self) -> str:
        """One line per endpoint and kind of failure: how many, and the first request that met it."""
        groups: dict[tuple[str, int, str], list[Failure]] = {}
        for failure in self.failures:
            groups.setdefault((failure.endpoint, failure.status, failure.detail.split(":")[0]), []).append(failure)
        lines = [
            f"{len(found)} x {status} at {endpoint}: {found[0].method} {found[0].path[:160]!r} {found[0].detail}"
            for (endpoint, status, _kind), found in groups.items()
        ]
        return "\n".join(lines)


def send(
    client: Client,
    *,
    method: str,
    path: str,
    query: dict[str, list[str]],
    body: tuple[str, Any],
    tally: Tally,
    endpoint: str,
    headers: dict[str, str] | None = None,
) -> None:
    """One request. ``body`` is (kind, data): ("form", dict) multipart, ("urlencoded", dict), (content type, bytes).
    ``headers`` are WSGI names (``HTTP_AUTHORIZATION``)."""
    url = f"{path}?{urlencode(query, doseq=True)}" if query else path
    kind, data = body
    extra = headers or {}
    if method == "GET":
        response = client.get(url, **extra)
    elif method == "HEAD":
        response = client.head(url, **extra)
    elif kind == "form":
        response = client.generic(method, url, **extra) if method != "POST" else client.post(url, data=data, **extra)
    elif kind == "urlencoded":
        response = client.generic(
            method, url, urlencode(data, doseq=True), content_type="application/x-www-form-urlencoded", **extra
        )
    else:
        response = client.generic(method, url, data, content_type=kind, **extra)
    tally.endpoints.add(endpoint)
    tally.record(endpoint, method, url, response)


def bodies() -> st.SearchStrategy[tuple[str, Any]]:
    raw_types = ["application/json", "text/plain", "application/xml", "application/octet-stream", "x/unknown"]
    documents = [None, True, 1e309, -(2**70), "x", [], {}, {"Type": "Notification"}, [{"event": "bounce"}], {"": [{}]}]
    return st.one_of(
        params(longest=HUGE).map(lambda d: ("form", d)),
        params(longest=HUGE).map(lambda d: ("urlencoded", d)),
        st.tuples(st.sampled_from(raw_types), st.binary(max_size=300)),
        st.tuples(st.just("application/json"), st.sampled_from(documents).map(lambda v: json.dumps(v).encode())),
        st.tuples(st.just("application/json"), values(HUGE).map(lambda v: json.dumps({v: v}).encode())),
    )
