"""Fuzz pass: no request from outside is answered with a 5xx, whatever its path, method, parameters or body.

Three passes over the suite's database (PostgreSQL in CI, where a NUL byte or a bad regular expression in a query
is an error the database raises):
- every URL pattern in the URLconf (read at run time), anonymously and as a superuser, GET/HEAD/POST/PUT/DELETE
  with generated paths (from the pattern's own regex, or reversed with real ids and genuine tokens), query
  parameters, bodies and cookies;
- every registered ModelAdmin's parameter-less pages (changelist, export, build, upload, ...) as a superuser, with
  filter parameters made from its list_filter, date_hierarchy and every local field crossed with Django's lookups,
  search and paging, plus actions posted with real and bogus ids;
- every ESP's webhook URLs, mounted one ESP at a time as a process started with ``ESP=<it>`` mounts them (the
  suite's own settings have no ESP, so the first pass finds none), with and without the shared secret.
Values are hostile on purpose: NUL bytes, 8 kB strings in URLs and 200 kB ones in bodies, unicode controls, numbers
past 64 bits, impossible dates.
Each request runs inside a savepoint rolled back afterwards, so one cannot change what the next one finds.

The example budget is fixed (same inputs each run: a fixed seed) so the suite stays well under a minute;
``bench/fuzz.py`` runs a long random pass. Both print the number of requests and of 5xx answers.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import transaction
from django.test import Client, RequestFactory
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from config.esp import ESPS
from config.health import record_beat_tick
from config.tasks import WORKER_HEARTBEAT_KEY
from config.variables import read_int
from digest.models import Edition, Source
from subscribers.clicks.tokens import make_click_token
from subscribers.models import Delivery, Subscriber, Suppression, TrackingEvent
from subscribers.services import email_hash
from subscribers.tokens import Purpose, make_feedback_token, make_token
from tests.factories import make_document, make_edition, make_seen_paper
from tests.subscribers import webhook_support
from tests.subscribers.factories import make_subscriber
from tests.subscribers.test_webhooks_guard import WEBHOOK_SETTINGS
from tests.subscribers.webhook_support import basic_auth
from tests.support.fuzz import (
    COMMON_KEYS,
    LOOKUPS,
    SCALE,
    Endpoint,
    Tally,
    bodies,
    endpoints,
    params,
    send,
    values,
)

pytestmark = pytest.mark.django_db
mount_esp = webhook_support.mount_esp  # the webhook tests' fixture: mounts one ESP's URLs as ESP=<it> would

PROJECT_EXAMPLES = 12  # per public endpoint of the project's own views
OTHER_EXAMPLES = 2  # per admin endpoint (the changelist pass goes deeper) and per third-party one (Anymail's)
CHANGELIST_EXAMPLES = 20  # per registered ModelAdmin
WEBHOOK_EXAMPLES = 6  # per webhook URL of each ESP
METHODS = ["GET", "GET", "POST", "POST", "HEAD", "PUT", "DELETE"]
# A fixed seed (the same inputs every run) unless FUZZ_SEED says otherwise; bench/fuzz.py passes a random one.
FUZZ_SEED = read_int("FUZZ_SEED")
FUZZ_SETTINGS = settings(
    database=None,
    deadline=None,
    phases=[Phase.generate],  # failures are tallied, not raised: nothing to shrink
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(autouse=True)
def _quiet_client_errors(caplog: pytest.LogCaptureFixture) -> None:
    """Django logs every 4xx and 5xx answer with the request attached, its body included, and pytest keeps every
    record of a test: the long pass would hold gigabytes. The tally counts every answer and keeps each 5xx's
    exception, which is what a failure report shows."""
    caplog.set_level(logging.CRITICAL + 1, logger="django.request")
    caplog.set_level(logging.CRITICAL + 1, logger="django.security")


@dataclass
class World:
    superuser: User
    session: str  # the superuser's session key, logged in once for every example
    pools: dict[str, list[str]]  # URL group name -> real values that reverse() accepts
    pks: dict[type, list[str]]


@pytest.fixture
def world(settings) -> World:
    """A little of everything, so changelists have rows, tokens are genuine and the health probe is green."""
    # Every sign-up attempt should reach validation, not the rate limit.
    settings.SUBSCRIBE_RATE_PER_IP = settings.SUBSCRIBE_RATE_PER_ADDRESS = "100000/h"
    superuser = User.objects.create_superuser("fuzz", "fuzz@example.org", "fuzz-password")
    today = timezone.localdate()
    papers = [make_seen_paper(listed_date=today - timedelta(days=n)) for n in range(3)]
    sent = make_edition(date=today - timedelta(days=1), papers=papers, status=Edition.Status.SENT)
    make_edition(date=today, papers=papers[:1])
    make_edition(date=today, papers=papers[1:], frequency="weekly", status=Edition.Status.APPROVED)
    make_document(listed_date=today, status="failed", error="no papers found")
    # A closed loopback port: "fetch now" on it fails at once and never leaves the machine.
    Source.objects.create(name="loopback", url="http://127.0.0.1:9/papers")
    readers = [
        make_subscriber(keywords=["diffusion", "agents"]),
        make_subscriber(status=Subscriber.Status.PENDING),
        make_subscriber(status=Subscriber.Status.UNSUBSCRIBED, frequency="weekly"),
    ]
    Delivery.objects.create(edition=sent, subscriber=readers[0], status=Delivery.Status.SENT, esp_message_id="m-1")
    TrackingEvent.objects.create(event_id="ev-1", event_type="bounced", recipient=readers[0].email, payload={"a": 1})
    Suppression.objects.create(email_hash=email_hash("gone@example.org"), reason="bounced")
    # The probe answers 503 with ?strict=1 when beat or the worker look dead: here both are fresh.
    record_beat_tick(timezone.now())
    cache.set(WORKER_HEARTBEAT_KEY, timezone.now().timestamp(), timeout=None)

    tokens = [
        make_token(subscriber_id=reader.pk, token_key=reader.token_key, purpose=purpose)
        for reader in readers
        for purpose in Purpose
    ]
    tokens += [make_click_token(subscriber_id=readers[0].pk, edition_id=sent.pk)]
    tokens += [make_feedback_token(subscriber_id=readers[0].pk, token_key=readers[0].token_key, paper_id=papers[0].pk)]
    pks = {model: [str(pk) for pk in model.objects.values_list("pk", flat=True)] for model in apps.get_models()}
    pools = {
        "token": tokens,
        "day": [sent.date.isoformat(), today.isoformat(), "2025-02-30"],
        "move": [*admin.site.get_model_admin(Edition).get_moves(), "nope"],
        "number": ["0", "1", "2"],
        "paper_id": [str(paper.pk) for paper in papers],
        "content_type_id": [str(ContentType.objects.get_for_model(Edition).pk)],
        "app_label": ["digest", "subscribers", "auth"],
        "id": [str(superuser.pk)],
        "url": ["nope/"],
    }
    staff = Client()
    staff.force_login(superuser)
    session = staff.cookies[django_settings.SESSION_COOKIE_NAME].value
    return World(superuser=superuser, session=session, pools=pools, pks=pks)


def _admin_models() -> Iterator[tuple[type, admin.ModelAdmin]]:
    for model in apps.get_models():
        if admin.site.is_registered(model):
            yield model, admin.site.get_model_admin(model)


def known_paths(endpoint: Endpoint, world: World) -> list[str]:
    """Paths reversed with real values, so the view gets past its lookup (capped: a product can grow fast)."""
    if not endpoint.name:
        return []
    pools = dict(world.pools)
    for model, _model_admin in _admin_models():
        if endpoint.name.startswith(f"admin:{model._meta.app_label}_{model._meta.model_name}_"):
            pools["object_id"] = world.pks[model]
    pools.setdefault("object_id", world.pks[Edition])
    choices = [pools.get(group, ["x"]) for group in endpoint.groups]
    found = []
    for combo in itertools.islice(itertools.product(*choices), 30):
        try:
            found.append(reverse(endpoint.name, kwargs=dict(zip(endpoint.groups, combo, strict=True))))
        except NoReverseMatch:
            continue
    return found


def login(client: Client, world: World) -> None:
    # The session row was committed before the examples' savepoints, so a "log out" in one example is undone.
    client.cookies[django_settings.SESSION_COOKIE_NAME] = world.session


def _print(capsys: pytest.CaptureFixture[str], tally: Tally, label: str) -> None:
    with capsys.disabled():
        print(f"\n{tally.summary(label)}")


def fuzz_endpoint(endpoint: Endpoint, world: World, tally: Tally) -> None:
    public = not endpoint.regex.startswith("^/admin/")
    ours = public and endpoint.module.startswith(("config.", "digest.", "subscribers."))
    budget = (PROJECT_EXAMPLES if ours else OTHER_EXAMPLES) * SCALE

    @seed(FUZZ_SEED)
    @settings(FUZZ_SETTINGS, max_examples=budget)
    @given(
        path=endpoint.path_strategy(known_paths(endpoint, world)),
        method=st.sampled_from(METHODS),
        as_superuser=st.booleans(),
        query=params(),
        body=bodies(),
        # A header reaches Django as bytes decoded as latin-1 (WSGI), whatever the client meant.
        cookie=st.none()
        | st.tuples(
            st.sampled_from(["sessionid", "csrftoken", "messages"]),
            values().map(lambda v: v.encode("utf-8").decode("latin-1")),
        ),
    )
    def probe(
        path: str,
        method: str,
        as_superuser: bool,
        query: dict[str, list[str]],
        body: tuple[str, object],
        cookie: tuple[str, str] | None,
    ) -> None:
        client = Client(raise_request_exception=False)
        with transaction.atomic():
            if as_superuser:
                login(client, world)
            if cookie is not None:
                client.cookies[cookie[0]] = cookie[1]
            send(client, method=method, path=path, query=query, body=body, tally=tally, endpoint=endpoint.regex)
            transaction.set_rollback(True)

    probe()


def test_every_url_pattern_answers_without_a_5xx(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    tally = Tally()
    everything = endpoints()
    for endpoint in everything:
        fuzz_endpoint(endpoint, world, tally)
    _print(capsys, tally, "URL patterns")
    assert tally.endpoints == {endpoint.regex for endpoint in everything}, "some URL patterns were never requested"
    assert tally.server_errors == 0, tally.report()


def _filter_keys(model: type, model_admin: admin.ModelAdmin) -> list[str]:
    """Parameter names this changelist understands: its filters, its date drill-down, every local field x lookup."""
    keys = ["q", "o", "p", "all", "e", "_popup", "_to_field"]
    for item in model_admin.list_filter:
        if isinstance(item, str):
            keys += [f"{item}__{lookup}" if lookup else item for lookup in LOOKUPS]
            keys += [f"{item}__id__exact", f"{item}__pk__in"]
        elif isinstance(item, tuple | list):
            keys += [f"{item[0]}__exact", f"{item[0]}__isnull"]
        else:
            keys.append(item.parameter_name)
    if model_admin.date_hierarchy:
        keys += [f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day", "gte", "lt")]
    for field in model._meta.concrete_fields:
        keys += [f"{field.name}__{lookup}" if lookup else field.name for lookup in LOOKUPS]
    return keys


def _parameterless_urls(model_admin: admin.ModelAdmin) -> list[str]:
    urls = []
    for pattern in model_admin.get_urls():
        if pattern.name and not pattern.pattern.regex.groupindex:
            urls.append(reverse(f"admin:{pattern.name}"))
    return urls


def fuzz_model_admin(model: type, model_admin: admin.ModelAdmin, world: World, tally: Tally) -> None:
    request = RequestFactory().get("/")
    request.user = world.superuser
    keys = st.sampled_from(_filter_keys(model, model_admin))
    # Mostly this changelist's own filter names, so most requests reach a filter with a hostile value.
    query = params(keys | keys | st.sampled_from(COMMON_KEYS) | st.text(min_size=1, max_size=20), min_size=1)
    actions = [*model_admin.get_actions(request), "nope"]
    ids = world.pks[model] or ["1"]
    action = st.fixed_dictionaries(
        {
            "action": st.lists(st.sampled_from(actions) | values(), min_size=1, max_size=2),
            "_selected_action": st.lists(st.sampled_from(ids) | values(), max_size=3),
            "index": st.lists(st.just("0") | values(), max_size=1),
            "select_across": st.lists(st.sampled_from(["0", "1"]) | values(), max_size=1),
            "post": st.lists(st.sampled_from(["yes", ""]), max_size=1),
        }
    )
    changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    for url in _parameterless_urls(model_admin):
        budget = (CHANGELIST_EXAMPLES if url == changelist else OTHER_EXAMPLES) * SCALE
        fuzz_admin_page(url, budget, query, action, world, tally)


def fuzz_admin_page(
    url: str,
    budget: int,
    query: st.SearchStrategy[dict[str, list[str]]],
    action: st.SearchStrategy[dict[str, list[str]]],
    world: World,
    tally: Tally,
) -> None:
    @seed(FUZZ_SEED)
    @settings(FUZZ_SETTINGS, max_examples=budget)
    @given(query=query, action=st.none() | action, body=bodies())
    def probe(query: dict[str, list[str]], action: dict[str, list[str]] | None, body: tuple[str, object]) -> None:
        client = Client(raise_request_exception=False)
        with transaction.atomic():
            login(client, world)
            if action is None:
                # A GET with the filters, and the same page's form posted with a generated body.
                send(client, method="GET", path=url, query=query, body=body, tally=tally, endpoint=url)
                send(client, method="POST", path=url, query=query, body=body, tally=tally, endpoint=url)
            else:
                form = ("urlencoded", {k: v for k, v in action.items() if v})
                send(client, method="POST", path=url, query=query, body=form, tally=tally, endpoint=url)
            transaction.set_rollback(True)

    probe()


def test_every_admin_changelist_refuses_bad_filters_without_a_5xx(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tally = Tally()
    registered = list(_admin_models())
    for model, model_admin in registered:
        fuzz_model_admin(model, model_admin, world, tally)
    _print(capsys, tally, f"admin pages of {len(registered)} ModelAdmins")
    every_page = {url for _model, model_admin in registered for url in _parameterless_urls(model_admin)}
    assert tally.endpoints == every_page, "some admin pages were never requested"
    assert tally.server_errors == 0, tally.report()


def fuzz_webhook(endpoint: Endpoint, tally: Tally) -> None:
    # As the ESP would call (with the shared secret) and as anyone else could (without it, or with a wrong one).
    auth = st.sampled_from([basic_auth(), {}]) | values().map(
        lambda v: {"HTTP_AUTHORIZATION": "Basic " + v.encode("utf-8").decode("latin-1")}
    )
    sns_type = st.sampled_from([{}, {"HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification"}]) | values().map(
        lambda v: {"HTTP_X_AMZ_SNS_MESSAGE_TYPE": v.encode("utf-8").decode("latin-1")}
    )

    @seed(FUZZ_SEED)
    @settings(FUZZ_SETTINGS, max_examples=WEBHOOK_EXAMPLES * SCALE)
    @given(
        path=endpoint.path_strategy([]),
        method=st.sampled_from(["POST", "POST", "POST", "GET", "HEAD", "PUT"]),
        query=params(),
        body=bodies(),
        auth=auth,
        sns_type=sns_type,
    )
    def probe(
        path: str,
        method: str,
        query: dict[str, list[str]],
        body: tuple[str, object],
        auth: dict[str, str],
        sns_type: dict[str, str],
    ) -> None:
        client = Client(raise_request_exception=False)
        with transaction.atomic():
            headers = {**auth, **sns_type}
            send(client, method=method, path=path, query=query, body=body, tally=tally, endpoint=path, headers=headers)
            transaction.set_rollback(True)

    probe()


def test_every_esps_webhooks_answer_without_a_5xx(mount_esp, capsys: pytest.CaptureFixture[str]) -> None:
    """Each ESP mounted in turn, as a process started with ESP=<it> would mount it, its webhook URLs fuzzed."""
    tally = Tally()
    mounted: dict[str, int] = {}
    for esp in sorted(ESPS):
        mount_esp(esp, **WEBHOOK_SETTINGS.get(esp, {}))
        hooks = [endpoint for endpoint in endpoints() if endpoint.regex.startswith("^/anymail/")]
        mounted[esp] = len(hooks)  # some ESPs have no webhook in Anymail (Scaleway, ...)
        for endpoint in hooks:
            fuzz_webhook(endpoint, tally)
    with_hooks = [esp for esp, count in mounted.items() if count]
    _print(capsys, tally, f"webhooks of {len(with_hooks)} ESPs ({sum(mounted.values())} URL patterns)")
    assert len(with_hooks) >= 10, mounted
    assert tally.server_errors == 0, tally.report()
