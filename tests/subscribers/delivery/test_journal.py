"""The send journal: each message reaches the ESP only once the journal holds it; a journal that cannot be written
stops the chunk before the ESP, and loses nothing."""

from __future__ import annotations

from collections import Counter

import pytest
import redis
from anymail.backends.test import EmailBackend as AnymailTestBackend
from django.core import mail

from digest.models import Edition
from subscribers.delivery.chunk import chunk_send
from subscribers.delivery.journal import CacheStore, RedisStore, SendJournal, journal_store
from subscribers.models import Delivery
from tests.subscribers.delivery.helpers import fan_out, sent_to
from tests.subscribers.factories import make_subscriber
from tests.support.services import RedisServer, free_port

Status = Delivery.Status


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
    settings.EMAIL_BACKEND = "tests.subscribers.delivery.test_journal.JournalCheckingBackend"
    JournalCheckingBackend.seen = []
    ids = fan_out(edition, [make_subscriber() for _ in range(4)])

    assert chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1]).sent == 4

    seen = JournalCheckingBackend.seen
    assert [inflight for _, inflight, _ in seen] == [pk for pk, _, _ in seen]
    for (_, _, sent), (earlier_pk, _, _) in zip(seen[1:], seen, strict=False):
        assert earlier_pk in sent  # the previous message's ESP id was stored before this one went out


def test_a_journal_write_that_fails_stops_the_chunk_before_the_esp(edition: Edition, monkeypatch) -> None:
    subscribers = [make_subscriber() for _ in range(5)]
    ids = fan_out(edition, subscribers)
    real_mark_start = SendJournal.mark_start
    calls = []

    def mark_start(self, **kwargs):
        calls.append(kwargs)
        wait = real_mark_start(self, **kwargs)
        if len(calls) != 4:  # the chunk's opening heartbeat, then the first three messages
            return wait

        def fails():
            wait()  # the record went out; its answer says it was not stored
            raise ConnectionError("redis went away")

        return fails

    monkeypatch.setattr(SendJournal, "mark_start", mark_start)
    result = chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])

    assert (result.sent, result.retry, result.ambiguous) == (2, True, 0)
    assert sent_to() == Counter({s.email: 1 for s in subscribers[:2]})
    statuses = Counter(Delivery.objects.filter(edition=edition).values_list("status", flat=True))
    assert statuses == Counter({Status.SENT: 2, Status.QUEUED: 3})


class TurnsRedisReadOnlyBackend(AnymailTestBackend):
    """Anymail's test backend that, once it has accepted ``after`` messages, turns the journal's Redis into a
    read-only replica (of a server that is not there): from then on Redis refuses every write with READONLY."""

    redis_url = ""
    after = 2
    accepted = 0

    def post_to_esp(self, payload, message):
        response = super().post_to_esp(payload, message)
        type(self).accepted += 1
        if type(self).accepted == self.after:
            redis.Redis.from_url(self.redis_url).replicaof("127.0.0.1", free_port())
        return response


def test_a_journal_write_redis_refuses_stops_the_chunk_before_the_esp(
    edition: Edition, settings, own_redis: RedisServer
) -> None:
    settings.REDIS_URL = own_redis.url
    settings.EMAIL_BACKEND = "tests.subscribers.delivery.test_journal.TurnsRedisReadOnlyBackend"
    TurnsRedisReadOnlyBackend.redis_url, TurnsRedisReadOnlyBackend.accepted = own_redis.url, 0
    subscribers = [make_subscriber() for _ in range(5)]
    ids = fan_out(edition, subscribers)

    result = chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])

    # The third message's journal record was refused, so it never went out; it and the rest wait in the queue.
    assert (result.sent, result.retry, result.ambiguous) == (2, True, 0)
    assert "read only replica" in result.error
    assert sent_to() == Counter({s.email: 1 for s in subscribers[:2]})
    statuses = Counter(Delivery.objects.filter(edition=edition).values_list("status", flat=True))
    assert statuses == Counter({Status.SENT: 2, Status.QUEUED: 3})


def test_an_unreachable_journal_postpones_the_chunk_before_claiming_anything(edition: Edition, settings) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    ids = fan_out(edition, [make_subscriber() for _ in range(3)])

    result = chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])

    assert (result.sent, result.retry) == (0, True)
    assert result.error.startswith("send journal unavailable")
    assert mail.outbox == []
    assert set(Delivery.objects.filter(edition=edition).values_list("status", flat=True)) == {Status.QUEUED}


@pytest.mark.parametrize("where", ["redis", "cache"])
def test_the_journal_reads_back_what_it_wrote_and_clears_it(where: str, settings, own_redis: RedisServer) -> None:
    settings.REDIS_URL = own_redis.url if where == "redis" else ""
    store = journal_store()
    assert isinstance(store, RedisStore if where == "redis" else CacheStore)
    journal, other = SendJournal("a" * 32, store=store), SendJournal("b" * 32, store=store)

    assert journal.inflight() is None
    journal.mark(inflight=11, at=1000.5)
    journal.mark(inflight=12, sent=(11, "esp-id-11"), at=1001.0)
    other.mark(inflight=99, sent=(98, "esp-id-98"))

    assert journal.inflight() == (12, 1001.0)
    assert journal.sent([11, 12, 98]) == {11: "esp-id-11"}  # another claim's records are not this one's
    journal.mark(inflight=None, at=1002.0)
    assert journal.inflight() == (None, 1002.0)  # between messages: alive, nothing in flight
    journal.clear([11, 12])
    assert (journal.inflight(), journal.sent([11])) == (None, {})
    assert other.sent([98]) == {98: "esp-id-98"}


def test_a_message_that_fails_to_build_during_the_journal_write_leaves_the_connection_in_step(
    edition: Edition, settings, own_redis: RedisServer, monkeypatch
) -> None:
    """The message is built while its journal record travels; if building fails, the record's answer is still read,
    so the next command on the journal's connection reads its own answer, not that one."""
    import subscribers.delivery.chunk as chunk

    settings.REDIS_URL = own_redis.url
    subscribers = [make_subscriber() for _ in range(3)]
    ids = fan_out(edition, subscribers)
    real_message, built = chunk.edition_message, []

    def edition_message(*args, **kwargs):
        built.append(1)
        if len(built) == 2:
            raise RuntimeError("a template broke")
        return real_message(*args, **kwargs)

    monkeypatch.setattr(chunk, "edition_message", edition_message)
    with pytest.raises(RuntimeError, match="a template broke"):
        chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1])

    # The failed chunk recorded its first send and gave the rest back; the same connection then answers in step.
    statuses = Counter(Delivery.objects.filter(edition=edition).values_list("status", flat=True))
    assert statuses == Counter({Status.SENT: 1, Status.QUEUED: 2})
    probe = SendJournal("c" * 32)
    probe.mark(inflight=7, at=1000.0)
    probe.mark(inflight=8, sent=(7, "esp-id-7"), at=1001.0)
    assert (probe.inflight(), probe.sent([7])) == ((8, 1001.0), {7: "esp-id-7"})
    monkeypatch.setattr(chunk, "edition_message", real_message)
    assert chunk_send(edition_id=edition.pk, first=ids[0], last=ids[-1]).sent == 2
    assert sent_to() == Counter({s.email: 1 for s in subscribers})
