"""The sending service in-process, against Anymail's test backend (and a scripted failing variant of it)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.exceptions import AnymailAPIError
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from digest.models import Edition, Frequency
from subscribers import sending
from subscribers.models import Delivery, Subscriber
from subscribers.sending import SendJournal, chunk_send, deliveries_fan_out
from tests.factories import make_edition, make_seen_paper
from tests.subscribers.factories import make_subscriber
from tests.support.services import unavailable

Status = Delivery.Status
TODAY = date(2025, 3, 14)
NOON = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


class ScriptedBackend(AnymailTestBackend):
    """Anymail's test backend, except that listed recipients get the scripted errors first, one per send."""

    script: dict[str, list[Exception]] = {}

    def post_to_esp(self, payload, message):
        errors = self.script.get(message.to[0])
        if errors:
            raise errors.pop(0)
        return super().post_to_esp(payload, message)


def ses_error(status: int, code: str, text: str = "error") -> AnymailAPIError:
    return AnymailAPIError(text, response={"ResponseMetadata": {"HTTPStatusCode": status}, "Error": {"Code": code}})


def read_timeout() -> AnymailAPIError:
    try:
        raise ReadTimeoutError(endpoint_url="http://ses")
    except ReadTimeoutError as cause:
        error = AnymailAPIError("read timeout")
        error.__cause__ = cause
        return error


def not_connected() -> AnymailAPIError:
    error = AnymailAPIError("connect failed")
    error.__cause__ = EndpointConnectionError(endpoint_url="http://ses")
    return error


@pytest.fixture(autouse=True)
def anymail_test_backend(settings) -> None:
    # Django's test setup swaps in locmem, which reports no ESP message id; Anymail's test backend does.
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"


@pytest.fixture
def edition(db) -> Edition:
    sending.clear_body_cache()
    papers = [make_seen_paper(listed_date=TODAY, upvotes=10 * i, title=f"Paper number {i}") for i in range(3)]
    return make_edition(date=TODAY, papers=papers, status=Edition.Status.APPROVED, subject="Trending Papers: today")


@pytest.fixture
def scripted(settings):
    settings.EMAIL_BACKEND = "tests.subscribers.test_sending.ScriptedBackend"
    ScriptedBackend.script = {}
    return ScriptedBackend.script


def sent_to() -> Counter[str]:
    return Counter(message.to[0] for message in mail.outbox)


def fan_out(edition: Edition, subscribers: list[Subscriber]) -> list[int]:
    ids = [s.pk for s in subscribers]
    deliveries_fan_out(edition=edition, subscriber_ids=ids, now=NOON)
    return ids


def test_chunk_sends_each_active_subscriber_once_and_records_the_esp_id(edition: Edition) -> None:
    subscribers = [make_subscriber() for _ in range(5)]
    ids = fan_out(edition, subscribers)

    result = chunk_send(edition_id=edition.pk, subscriber_ids=ids)

    assert (result.sent, result.retry) == (5, False)
    assert sent_to() == Counter({s.email: 1 for s in subscribers})
    rows = Delivery.objects.filter(edition=edition)
    assert {row.status for row in rows} == {Status.SENT}
    assert all(row.esp_message_id != "" and row.attempts == 1 and row.sent_at for row in rows)
    edition.refresh_from_db()
    assert edition.status == Edition.Status.SENT and edition.recipient_count == 5
    assert edition.rendered_html  # the snapshot the archive shows

    again = chunk_send(edition_id=edition.pk, subscriber_ids=ids)
    assert again.sent == 0 and len(mail.outbox) == 5


def test_a_subscriber_who_leaves_between_fan_out_and_send_is_skipped(edition: Edition) -> None:
    stays, leaves = make_subscriber(), make_subscriber()
    ids = fan_out(edition, [stays, leaves])
    Subscriber.objects.filter(pk=leaves.pk).update(status=Subscriber.Status.UNSUBSCRIBED)

    result = chunk_send(edition_id=edition.pk, subscriber_ids=ids)

    assert (result.sent, result.skipped) == (1, 1)
    assert sent_to() == Counter({stays.email: 1})
    assert Delivery.objects.get(subscriber=leaves).status == Status.SKIPPED


def test_rows_claimed_by_one_run_are_invisible_to_another(edition: Edition) -> None:
    subscribers = [make_subscriber() for _ in range(3)]
    ids = fan_out(edition, subscribers)
    first, _ = sending._claim(edition_id=edition.pk, subscriber_ids=ids, token="a" * 32, now=NOON)
    second, _ = sending._claim(edition_id=edition.pk, subscriber_ids=ids, token="b" * 32, now=NOON)
    assert len(first) == 3 and second == []


def test_a_held_edition_sends_nothing(edition: Edition) -> None:
    ids = fan_out(edition, [make_subscriber()])
    Edition.objects.filter(pk=edition.pk).update(status=Edition.Status.HELD)
    assert chunk_send(edition_id=edition.pk, subscriber_ids=ids).sent == 0
    assert mail.outbox == []


def test_throttling_stops_the_chunk_and_a_retry_sends_only_the_rest(edition: Edition, scripted) -> None:
    subscribers = [make_subscriber() for _ in range(4)]
    ids = fan_out(edition, subscribers)
    scripted[subscribers[2].email] = [ses_error(429, "TooManyRequestsException"), ses_error(500, "InternalFailure")]

    first = chunk_send(edition_id=edition.pk, subscriber_ids=ids)
    assert (first.sent, first.retry, first.released) == (2, True, 1)
    assert Delivery.objects.get(subscriber=subscribers[2]).status == Status.QUEUED
    second = chunk_send(edition_id=edition.pk, subscriber_ids=ids)
    assert (second.sent, second.retry) == (0, True)
    third = chunk_send(edition_id=edition.pk, subscriber_ids=ids)
    assert (third.sent, third.retry) == (2, False)

    assert sent_to() == Counter({s.email: 1 for s in subscribers})
    assert Delivery.objects.get(subscriber=subscribers[2]).attempts == 3


def test_could_not_connect_is_retried_not_ambiguous(edition: Edition, scripted) -> None:
    subscriber = make_subscriber()
    ids = fan_out(edition, [subscriber])
    scripted[subscriber.email] = [not_connected()]
    assert chunk_send(edition_id=edition.pk, subscriber_ids=ids).retry
    assert Delivery.objects.get(subscriber=subscriber).status == Status.QUEUED


def test_an_invalid_address_fails_and_is_suppressed_the_others_still_go(edition: Edition, scripted) -> None:
    bad, good = make_subscriber(email="bad@example.org"), make_subscriber()
    ids = fan_out(edition, [bad, good])
    scripted[bad.email] = [ses_error(400, "BadRequestException", "Illegal address")]

    result = chunk_send(edition_id=edition.pk, subscriber_ids=ids)

    assert (result.sent, result.failed, result.retry) == (1, 1, False)
    assert Delivery.objects.get(subscriber=bad).status == Status.FAILED
    bad.refresh_from_db()
    assert bad.status == Subscriber.Status.BOUNCED
    assert sent_to() == Counter({good.email: 1})


def test_send_log_lines_carry_the_edition_and_subscriber_ids(edition: Edition, scripted, caplog) -> None:
    bad, good = make_subscriber(email="bad@example.org"), make_subscriber()
    ids = fan_out(edition, [bad, good])
    scripted[bad.email] = [ses_error(400, "BadRequestException", "Illegal address")]

    with caplog.at_level(logging.DEBUG, logger="subscribers.sending"):
        chunk_send(edition_id=edition.pk, subscriber_ids=ids)

    by_message = {record.getMessage().split(" ")[0]: record for record in caplog.records}
    refused, sent = by_message["ESP"], by_message["sent"]
    assert (refused.levelname, refused.edition_id, refused.subscriber_id) == ("WARNING", edition.pk, bad.pk)
    assert refused.outcome == "invalid" and refused.delivery_id == Delivery.objects.get(subscriber=bad).pk
    assert (sent.levelname, sent.edition_id, sent.subscriber_id) == ("DEBUG", edition.pk, good.pk)
    assert sent.esp_message_id == Delivery.objects.get(subscriber=good).esp_message_id != ""
    summary = by_message["chunk"]
    assert (summary.levelname, summary.edition_id, summary.subscribers) == ("INFO", edition.pk, 2)
    assert summary.getMessage().startswith(f"chunk of edition {edition.pk}: 1 sent, 1 failed")


def test_a_content_rejection_fails_without_suppressing(edition: Edition, scripted) -> None:
    subscriber = make_subscriber()
    ids = fan_out(edition, [subscriber])
    scripted[subscriber.email] = [ses_error(400, "MessageRejected", "Email content rejected")]
    assert chunk_send(edition_id=edition.pk, subscriber_ids=ids).failed == 1
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.ACTIVE


@pytest.mark.parametrize("resend", [True, False])
def test_a_timeout_in_flight_is_ambiguous_and_the_setting_decides_a_resend(
    edition: Edition, scripted, settings, resend: bool
) -> None:
    settings.NEWSLETTER_RESEND_AMBIGUOUS = resend
    subscriber = make_subscriber()
    ids = fan_out(edition, [subscriber])
    scripted[subscriber.email] = [read_timeout()]

    first = chunk_send(edition_id=edition.pk, subscriber_ids=ids)
    assert (first.ambiguous, first.retry) == (1, True)
    row = Delivery.objects.get(subscriber=subscriber)
    assert row.status == Status.AMBIGUOUS and row.ambiguous_at is not None

    chunk_send(edition_id=edition.pk, subscriber_ids=ids)
    row.refresh_from_db()
    assert row.status == (Status.SENT if resend else Status.AMBIGUOUS)
    assert row.ambiguous_at is not None  # still counted after the re-send
    assert len(mail.outbox) == (1 if resend else 0)


class JournalCheckingBackend(AnymailTestBackend):
    """Anymail's test backend that, at each ESP call, reads what the send journal holds for the chunk."""

    seen: list[tuple[int, int | None, dict[int, str]]] = []

    def post_to_esp(self, payload, message):
        row = Delivery.objects.get(subscriber__email=message.to[0])
        journal = SendJournal(row.claim_token)
        inflight = journal.inflight()
        earlier = Delivery.objects.filter(claim_token=row.claim_token, pk__lt=row.pk).values_list("pk", flat=True)
        self.seen.append((row.pk, inflight and inflight[0], journal.sent(list(earlier))))
        return super().post_to_esp(payload, message)


def test_each_message_reaches_the_esp_only_once_the_journal_holds_it_and_the_one_before(
    edition: Edition, settings
) -> None:
    settings.EMAIL_BACKEND = "tests.subscribers.test_sending.JournalCheckingBackend"
    JournalCheckingBackend.seen = []
    ids = fan_out(edition, [make_subscriber() for _ in range(4)])

    assert chunk_send(edition_id=edition.pk, subscriber_ids=ids).sent == 4

    seen = JournalCheckingBackend.seen
    assert [inflight for _, inflight, _ in seen] == [pk for pk, _, _ in seen]
    for (_, _, sent), (earlier_pk, _, _) in zip(seen[1:], seen, strict=False):
        assert earlier_pk in sent  # the previous message's ESP id was stored before this one went out


def test_a_journal_write_that_fails_stops_the_chunk_before_the_esp(edition: Edition, monkeypatch) -> None:
    subscribers = [make_subscriber() for _ in range(5)]
    ids = fan_out(edition, subscribers)
    real_begin = SendJournal.begin
    calls = []

    def begin(self, **kwargs):
        calls.append(kwargs)
        if len(calls) == 4:  # the chunk's opening heartbeat, then the first three messages
            raise ConnectionError("redis went away")
        return real_begin(self, **kwargs)

    monkeypatch.setattr(SendJournal, "begin", begin)
    result = chunk_send(edition_id=edition.pk, subscriber_ids=ids)

    assert (result.sent, result.retry, result.ambiguous) == (2, True, 0)
    assert sent_to() == Counter({s.email: 1 for s in subscribers[:2]})
    statuses = Counter(Delivery.objects.filter(edition=edition).values_list("status", flat=True))
    assert statuses == Counter({Status.SENT: 2, Status.QUEUED: 3})


def test_a_journal_write_redis_refuses_stops_the_chunk_before_the_esp(edition: Edition, settings, monkeypatch) -> None:
    if not settings.REDIS_URL:
        unavailable("the journal's answers are read apart from its writes on Redis only: set REDIS_URL")
    subscribers = [make_subscriber() for _ in range(5)]
    ids = fan_out(edition, subscribers)
    real_confirm = SendJournal.confirm
    answers = []

    def confirm(self):
        if self._pending:
            answers.append(1)
            if len(answers) == 4:  # the chunk's opening heartbeat, then the first three messages
                self.close(broken=True)
                raise ConnectionError("READONLY You can't write against a read only replica.")
        return real_confirm(self)

    monkeypatch.setattr(SendJournal, "confirm", confirm)
    result = chunk_send(edition_id=edition.pk, subscriber_ids=ids)

    assert (result.sent, result.retry, result.ambiguous) == (2, True, 0)
    assert sent_to() == Counter({s.email: 1 for s in subscribers[:2]})
    statuses = Counter(Delivery.objects.filter(edition=edition).values_list("status", flat=True))
    assert statuses == Counter({Status.SENT: 2, Status.QUEUED: 3})


# --- The sweep -------------------------------------------------------------------------------------------------


def dead_claim(edition: Edition, subscribers: list[Subscriber], token: str, *, claimed_at: datetime) -> list[Delivery]:
    fan_out(edition, subscribers)
    rows, _ = sending._claim(edition_id=edition.pk, subscriber_ids=[s.pk for s in subscribers], token=token, now=NOON)
    Delivery.objects.filter(claim_token=token).update(claimed_at=claimed_at)
    return rows


def test_sweep_settles_a_dead_claim_from_its_journal(edition: Edition, settings) -> None:
    settings.NEWSLETTER_STALL_SECONDS = 60
    subscribers = [make_subscriber() for _ in range(4)]
    token = "d" * 32
    rows = dead_claim(edition, subscribers, token, claimed_at=NOON - timedelta(minutes=5))
    journal = SendJournal(token)
    journal.mark(inflight=rows[0].pk)
    journal.mark(inflight=rows[1].pk, sent=(rows[0].pk, "ses-id-0"))
    # The worker died in the ESP call for rows[1], 5 minutes ago.
    journal.mark(inflight=rows[1].pk, at=time.time() - 300)

    result = sending.deliveries_sweep(now=NOON)

    statuses = {row.pk: row.status for row in Delivery.objects.all()}
    assert statuses[rows[0].pk] == Status.SENT
    assert Delivery.objects.get(pk=rows[0].pk).esp_message_id == "ses-id-0"
    assert statuses[rows[1].pk] == Status.AMBIGUOUS
    assert statuses[rows[2].pk] == statuses[rows[3].pk] == Status.QUEUED
    assert (result.settled_sent, result.ambiguous) == (1, 1)
    # At-least-once by default: the ambiguous row and the two never tried are enqueued again.
    assert sorted(id_ for batch in result.batches for chunk in batch.chunks for id_ in chunk) == sorted(
        s.pk for s in subscribers[1:]
    )


def test_sweep_marks_everything_ambiguous_when_the_journal_is_gone(edition: Edition, settings) -> None:
    settings.NEWSLETTER_STALL_SECONDS = 60
    rows = dead_claim(edition, [make_subscriber() for _ in range(3)], "e" * 32, claimed_at=NOON - timedelta(minutes=5))
    sending.deliveries_sweep(now=NOON)
    assert set(Delivery.objects.filter(pk__in=[r.pk for r in rows]).values_list("status", flat=True)) == {
        Status.AMBIGUOUS
    }


def test_sweep_leaves_a_live_claim_alone(edition: Edition, settings) -> None:
    settings.NEWSLETTER_STALL_SECONDS = 60
    token = "f" * 32
    rows = dead_claim(edition, [make_subscriber() for _ in range(2)], token, claimed_at=NOON - timedelta(minutes=5))
    SendJournal(token).mark(inflight=rows[0].pk)  # a heartbeat just now

    result = sending.deliveries_sweep(now=NOON)

    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.SENDING}
    assert result.batches == []


def test_sweep_reenqueues_rows_whose_task_was_lost(edition: Edition, settings) -> None:
    settings.NEWSLETTER_STALL_SECONDS = 60
    lost, fresh = make_subscriber(), make_subscriber()
    deliveries_fan_out(edition=edition, subscriber_ids=[lost.pk], now=NOON - timedelta(minutes=10))
    deliveries_fan_out(edition=edition, subscriber_ids=[fresh.pk], now=NOON)

    result = sending.deliveries_sweep(now=NOON)

    assert [batch.chunks for batch in result.batches] == [[[lost.pk]]]
    assert sending.deliveries_sweep(now=NOON).batches == []  # not again until it stalls again


# --- The schedule ------------------------------------------------------------------------------------------------


def test_tick_builds_approves_and_fans_out_to_whose_morning_it_is(db, settings) -> None:
    settings.NEWSLETTER_SEND_HOUR = 7
    settings.NEWSLETTER_SEND_CATCHUP_HOURS = 3
    settings.NEWSLETTER_APPROVAL_REQUIRED = False
    make_seen_paper(listed_date=TODAY, upvotes=50)
    london = make_subscriber(time_zone="Europe/London")  # UTC in March: 07:30 local
    new_york = make_subscriber(time_zone="America/New_York")  # 03:30 local: not yet
    weekly = make_subscriber(frequency=Frequency.WEEKLY)  # 2025-03-14 is a Friday: no weekly edition
    now = datetime(2025, 3, 14, 7, 30, tzinfo=UTC)

    batches = sending.newsletter_tick(now=now)

    edition = Edition.objects.get(date=TODAY, frequency=Frequency.DAILY)
    assert edition.status == Edition.Status.SENDING
    assert [batch.chunks for batch in batches] == [[[london.pk]]]
    assert not Delivery.objects.filter(subscriber__in=[new_york, weekly]).exists()
    assert sending.newsletter_tick(now=now) == []  # firing again: nobody new

    later = datetime(2025, 3, 14, 11, 30, tzinfo=UTC)  # 07:30 in New York
    assert [batch.chunks for batch in sending.newsletter_tick(now=later)] == [[[new_york.pk]]]


def test_tick_waits_for_approval_when_required(db, settings) -> None:
    settings.NEWSLETTER_SEND_HOUR = 7
    settings.NEWSLETTER_APPROVAL_REQUIRED = True
    make_seen_paper(listed_date=TODAY, upvotes=50)
    make_subscriber()
    now = datetime(2025, 3, 14, 7, 5, tzinfo=UTC)

    assert sending.newsletter_tick(now=now) == []
    edition = Edition.objects.get(date=TODAY)
    assert edition.status == Edition.Status.DRAFT

    Edition.objects.filter(pk=edition.pk).update(status=Edition.Status.APPROVED)
    assert len(sending.newsletter_tick(now=now + timedelta(minutes=5))) == 1


def test_tick_sends_weekly_subscribers_the_weekly_edition_on_its_day(db, settings) -> None:
    settings.NEWSLETTER_SEND_HOUR = 7
    settings.NEWSLETTER_WEEKLY_WEEKDAY = 0
    monday = date(2025, 3, 17)
    make_seen_paper(listed_date=monday - timedelta(days=2), upvotes=50)
    daily, weekly = make_subscriber(), make_subscriber(frequency=Frequency.WEEKLY)
    batches = sending.newsletter_tick(now=datetime(2025, 3, 17, 7, 0, tzinfo=UTC))
    by_edition = {Edition.objects.get(pk=b.edition_id).frequency: b.chunks for b in batches}
    assert by_edition == {Frequency.DAILY: [[daily.pk]], Frequency.WEEKLY: [[weekly.pk]]}


def test_an_empty_edition_is_not_sent(db, settings) -> None:
    settings.NEWSLETTER_SEND_HOUR = 7
    make_subscriber()
    assert sending.newsletter_tick(now=datetime(2025, 3, 14, 7, 0, tzinfo=UTC)) == []


@pytest.mark.parametrize(
    ("zone", "utc_hour", "due"),
    [("UTC", 7, True), ("UTC", 10, False), ("Asia/Tokyo", 22, True), ("Not/AZone", 7, True), ("Asia/Tokyo", 7, False)],
)
def test_subscriber_due_uses_the_local_morning(settings, zone: str, utc_hour: int, due: bool) -> None:
    settings.NEWSLETTER_SEND_HOUR = 7
    settings.NEWSLETTER_SEND_CATCHUP_HOURS = 3
    now = datetime(2025, 3, 13, utc_hour, 0, tzinfo=UTC)
    assert sending.subscriber_due(time_zone=zone, now=now, edition_date=date(2025, 3, 13)) is due


# --- Cost per chunk, rate limit ------------------------------------------------------------------------------------


def queries_for_chunk(edition: Edition, size: int) -> int:
    ids = fan_out(edition, [make_subscriber(keywords=["paper"]) for _ in range(size)])
    sending.clear_body_cache()
    with CaptureQueriesContext(connection) as captured:
        assert chunk_send(edition_id=edition.pk, subscriber_ids=ids).sent == size
    return len(captured)


def test_queries_per_chunk_do_not_grow_with_chunk_size(edition: Edition, postgres) -> None:
    small = queries_for_chunk(edition, 5)
    large = queries_for_chunk(edition, 60)
    assert small == large, (small, large)
    # 12, and 2 for personalising: the representation's version and the readers' earlier deliveries (no
    # representation here; tests/subscribers/test_personal_send.py counts a chunk with profiles).
    assert large <= 14


def test_rate_limit_holds_the_sender_back_across_callers(settings) -> None:
    settings.ESP_RATE_LIMIT = 3
    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    with time_machine.travel(datetime(2030, 1, 1, 0, 0, 0, 100_000, tzinfo=UTC), tick=True):
        for _ in range(4):
            sending.esp_rate_limit_wait(sleep=fake_sleep)
    assert len(slept) == 1 and 0 < slept[0] <= 1


def test_no_rate_limit_configured_never_waits(settings) -> None:
    settings.ESP_RATE_LIMIT = 0
    for _ in range(100):
        sending.esp_rate_limit_wait(sleep=lambda seconds: pytest.fail("waited"))


# --- The operator's command ----------------------------------------------------------------------------------------


def test_send_edition_sends_a_draft_when_asked_by_name_and_is_idempotent(db, capsys) -> None:
    sending.clear_body_cache()
    draft = make_edition(date=TODAY, papers=[make_seen_paper(listed_date=TODAY)], status=Edition.Status.DRAFT)
    subscribers = [make_subscriber() for _ in range(3)]
    make_subscriber(status=Subscriber.Status.PENDING)

    call_command("send_edition", "--date", TODAY.isoformat(), "--dry-run")
    out = capsys.readouterr().out
    assert "not approved: sending anyway" in out and "3 new recipients" in out and "nothing sent" in out
    assert mail.outbox == []

    call_command("send_edition", "--date", TODAY.isoformat())
    assert "Sent 3" in capsys.readouterr().out
    call_command("send_edition", "--date", TODAY.isoformat())
    assert "Sent 0" in capsys.readouterr().out
    assert sent_to() == Counter({s.email: 1 for s in subscribers})
    draft.refresh_from_db()
    assert draft.status == Edition.Status.SENT


def test_send_edition_refuses_a_held_edition(db) -> None:
    make_edition(date=TODAY, status=Edition.Status.HELD)
    with pytest.raises(CommandError, match="held"):
        call_command("send_edition", "--date", TODAY.isoformat())


def test_retry_backoff_grows_exponentially_with_full_jitter(settings) -> None:
    settings.NEWSLETTER_SEND_RETRY_BACKOFF = 0.5
    samples = [sending.retry_backoff(3) for _ in range(200)]
    assert all(0 <= value <= 4.0 for value in samples)
    assert len({round(value, 3) for value in samples}) > 100  # jittered, not lock-step
    assert max(sending.retry_backoff(30) for _ in range(50)) <= sending.BACKOFF_CAP_SECONDS
