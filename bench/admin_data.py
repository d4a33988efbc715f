"""The data behind ``bench/admin_scale.py``, made with set-based SQL: a million subscribers in one statement.

Every figure is a parameter, so a quick run can use a tenth of it. Values are spread as a real list would be: most
subscribers active, a few percent pending or gone; every edition but the newest fully sent, with a realistic share
of bounces and failures; each paper seen on a few pages. Only PostgreSQL (``generate_series``, ``md5``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


def _words(text: str) -> list[str]:
    return text.split()


WORDS = _words(
    "language model agents retrieval diffusion protein graph reasoning vision robot transformer attention "
    "scaling sparse mixture experts token context memory planning policy reward alignment preference "
    "video audio speech image segmentation detection tracking depth geometry mesh neural field rendering "
    "physics molecule genome cell climate weather forecasting time series tabular benchmark dataset "
    "evaluation safety privacy federated quantum compiler code search ranking recommendation embedding "
    "contrastive distillation quantization pruning inference serving kernel hardware chip optimizer "
    "gradient curriculum"
)
# Made-up words widen the vocabulary to a few thousand, so that a searched word is in a few percent of abstracts,
# as in real ones, rather than in nearly all of them.
_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "ba"]
WORDS = (*WORDS, *(a + b + c + "ic" for a in _SYLLABLES for b in _SYLLABLES for c in _SYLLABLES))
FIRST = _words("ada alan grace linus ken barbara donald edsger john margaret radia tim vint whitfield leslie")
LAST = _words("lovelace turing hopper torvalds thompson liskov knuth dijkstra mccarthy hamilton perlman lee cerf")
DOMAINS = ["example.org", "example.com", "mail.example.net", "uni.example.edu", "lab.example.io"]


@dataclass(frozen=True)
class Sizes:
    subscribers: int = 1_000_000
    sent_editions: int = 5  # each sent to every subscriber: 5 x 1,000,000 deliveries
    editions: int = 30
    papers: int = 100_000
    documents: int = 1_000
    events: int = 500_000
    suppressions: int = 60_000
    votes: int = 200_000


def _run(cursor: Any, label: str, sql: str, params: dict[str, Any]) -> None:
    started = time.perf_counter()
    cursor.execute(sql, params)
    print(f"  {label:<14} {cursor.rowcount:>10,} rows  {time.perf_counter() - started:6.1f} s", flush=True)


SUBSCRIBERS = """
INSERT INTO subscribers_subscriber (email, status, token_key, created_at, status_changed_at, confirmed_at,
    unsubscribed_at, unsubscribed_via, bounced_at, complained_at, confirmation_sent_at, frequency, keywords,
    time_zone, consent_at, consent_source, consent_text, consent_ip_hash)
SELECT
    x.first[1 + g %% cardinality(x.first)] || '.' || x.last[1 + (g / 7) %% cardinality(x.last)] || g
        || '@' || x.domains[1 + (g / 3) %% cardinality(x.domains)],
    x.status, substr(md5(g::text), 1, 16), x.created, x.created, x.confirmed,
    CASE WHEN x.status = 'unsubscribed' THEN x.left_at END,
    CASE WHEN x.status = 'unsubscribed' THEN 'one-click' ELSE '' END,
    CASE WHEN x.status = 'bounced' THEN x.left_at END,
    CASE WHEN x.status = 'complained' THEN x.left_at END,
    x.created, CASE WHEN g %% 10 = 0 THEN 'weekly' ELSE 'daily' END,
    CASE WHEN g %% 2 = 1 THEN jsonb_build_array(x.words[1 + g %% cardinality(x.words)],
                                                x.words[1 + (g / 11) %% cardinality(x.words)])
         ELSE '[]'::jsonb END,
    'UTC', x.confirmed, 'bench', 'I agree to receive the daily list.', ''
FROM (
    SELECT g, r, created, %(first)s::text[] AS first, %(last)s::text[] AS last, %(domains)s::text[] AS domains,
        %(words)s::text[] AS words,
        CASE WHEN r < 0.90 THEN 'active' WHEN r < 0.94 THEN 'pending' WHEN r < 0.98 THEN 'unsubscribed'
             WHEN r < 0.995 THEN 'bounced' ELSE 'complained' END AS status,
        CASE WHEN r >= 0.90 AND r < 0.94 THEN NULL ELSE created + interval '20 minutes' END AS confirmed,
        created + (now() - created) * random() AS left_at
    FROM (SELECT g, random() AS r, now() - random() * interval '1095 days' AS created
          FROM generate_series(1, %(n)s) AS g) AS base
) AS x
"""

PAPERS = """
INSERT INTO digest_paper (arxiv_id, title, abstract, title_key, authors, links, published, upvotes, first_seen,
    last_seen, appearance_count, created_at, updated_at, pinned, hidden, boost, note, title_edited, abstract_edited)
SELECT
    format('%%s.%%s', 2300 + g / 20000, lpad((g %% 20000)::text, 5, '0')), t.title,
    (SELECT string_agg((%(words)s::text[])[1 + floor(random() * %(nwords)s)::int + 0 * i], ' ')
     FROM generate_series(1, 140 + 0 * g) AS i),
    lower(t.title), '["A. Author", "B. Author"]'::jsonb, '{}'::jsonb, t.seen, (g * 37) %% 400, t.seen, t.seen,
    3, now(), now(), g %% 5000 = 0, g %% 3000 = 0, 0, '', false, false
FROM (
    SELECT g, current_date - (%(n)s - g) * %(days)s / %(n)s AS seen,
        initcap((SELECT string_agg((%(words)s::text[])[1 + floor(random() * %(nwords)s)::int + 0 * i], ' ')
                 FROM generate_series(1, 9 + 0 * g) AS i)) || ' ' || g AS title
    FROM generate_series(1, %(n)s) AS g
) AS t
"""

DOCUMENTS = """
INSERT INTO digest_digestdocument (source_id, origin, format, listed_date, raw, size, sha256, status, error,
    paper_count, created_at, parsed_at)
SELECT %(source)s, 'https://papers.example.org/papers/date/' || (current_date - g),
    'html', current_date - g, convert_to(repeat('<p>page</p>', 50), 'UTF8'), 550,
    md5(g::text) || md5('doc' || g), CASE WHEN g %% 97 = 0 THEN 'failed' ELSE 'parsed' END,
    CASE WHEN g %% 97 = 0 THEN 'no papers found' ELSE '' END, 300, now() - g * interval '1 day', now()
FROM generate_series(0, %(n)s - 1) AS g
"""

APPEARANCES = """
INSERT INTO digest_appearance (paper_id, document_id, listed_date, position, upvotes)
SELECT p.id, d.id, d.listed_date, k + 1, p.upvotes
FROM digest_paper p
CROSS JOIN generate_series(0, 2) AS k
JOIN digest_digestdocument d ON d.listed_date = p.last_seen - k
ON CONFLICT DO NOTHING
"""

EDITIONS = """
INSERT INTO digest_edition (date, frequency, status, subject, intro, built_at, approved_at, send_started_at,
    sent_at, rendered_html, rendered_text, recipient_count, created_at)
SELECT current_date - g, 'daily', CASE WHEN g = 0 THEN 'sending' ELSE 'sent' END,
    'Trending papers, ' || (current_date - g), '', now(), now(), now(), CASE WHEN g > 0 THEN now() END,
    '', '', CASE WHEN g > 0 AND g < %(sent)s THEN %(subscribers)s ELSE 0 END, now()
FROM generate_series(0, %(n)s - 1) AS g
"""

ENTRIES = """
INSERT INTO digest_editionentry (edition_id, paper_id, position, score, score_parts, pinned)
SELECT e.id, p.id, row_number() OVER (PARTITION BY e.id ORDER BY p.upvotes DESC, p.id), p.upvotes,
    jsonb_build_object('upvotes', p.upvotes), false
FROM digest_edition e
JOIN LATERAL (SELECT id, upvotes FROM digest_paper WHERE last_seen = e.date AND NOT hidden
              ORDER BY upvotes DESC, id LIMIT 10) AS p ON true
"""

# One edition at a time: the newest is half sent, the others done, with webhooks' later statuses mixed in.
DELIVERIES = """
INSERT INTO subscribers_delivery (edition_id, subscriber_id, status, esp_message_id, attempts, last_error,
    created_at, enqueued_at, claim_token, claimed_at, ambiguous_at, sent_at, updated_at)
SELECT %(edition)s, s.id, x.status,
    CASE WHEN x.status IN ('queued', 'failed') THEN '' ELSE '0100018f' || md5(%(edition)s || '-' || s.id) END,
    CASE WHEN x.status = 'queued' THEN 0 ELSE 1 END,
    CASE WHEN x.status = 'failed' THEN '550 mailbox unavailable' ELSE '' END,
    now(), now(), '', NULL, NULL, CASE WHEN x.status NOT IN ('queued', 'failed') THEN now() END, now()
FROM subscribers_subscriber s
CROSS JOIN LATERAL (SELECT CASE
    WHEN %(sending)s AND (s.id * 7919) %% 100 < 45 THEN 'queued'
    WHEN (s.id * 104729 + %(edition)s) %% 1000 < 5 THEN 'failed'
    WHEN (s.id * 104729 + %(edition)s) %% 1000 < 15 THEN 'bounced'
    WHEN (s.id * 104729 + %(edition)s) %% 10000 < 155 THEN 'complained'
    WHEN %(sending)s THEN 'sent'
    WHEN (s.id * 31 + %(edition)s) %% 10 < 4 THEN 'delivered'
    WHEN (s.id * 31 + %(edition)s) %% 10 < 8 THEN 'opened'
    ELSE 'clicked' END AS status) AS x
"""

EVENTS = """
INSERT INTO subscribers_trackingevent (event_id, event_type, esp_message_id, recipient, received_at, payload)
SELECT md5('event' || g), (ARRAY['delivered', 'opened', 'clicked', 'bounced'])[1 + g %% 4],
    '0100018f' || md5(g::text), 'reader' || g || '@example.org', now() - random() * interval '20 days', '{}'
FROM generate_series(1, %(n)s) AS g
"""

SUPPRESSIONS = """
INSERT INTO subscribers_suppression (email_hash, reason, created_at)
SELECT md5('s' || g) || md5('t' || g), (ARRAY['bounced', 'complained', 'deleted', 'invalid'])[1 + g %% 4],
    now() - g * interval '1 minute'
FROM generate_series(1, %(n)s) AS g
"""

VOTES = """
INSERT INTO subscribers_vote (subscriber_id, paper_id, value, created_at, updated_at)
SELECT s.id, e.paper_id, CASE WHEN s.id %% 4 = 0 THEN -1 ELSE 1 END, now(), now()
FROM (SELECT id FROM subscribers_subscriber ORDER BY id LIMIT %(n)s) AS s
JOIN LATERAL (SELECT paper_id FROM digest_editionentry ORDER BY id OFFSET (s.id %% 50) LIMIT 1) AS e ON true
ON CONFLICT DO NOTHING
"""


def build(cursor: Any, sizes: Sizes) -> None:
    """Fill an empty, migrated database."""
    words = {"words": list(WORDS), "nwords": len(WORDS)}
    _run(
        cursor,
        "subscribers",
        SUBSCRIBERS,
        {"n": sizes.subscribers, "first": FIRST, "last": LAST, "domains": DOMAINS, **words},
    )
    _run(cursor, "papers", PAPERS, {"n": sizes.papers, "days": sizes.documents - 1, **words})
    cursor.execute(
        "INSERT INTO digest_source (name, url, format, enabled, etag, last_modified, last_status, last_error, "
        "created_at) VALUES ('Trending papers', 'https://papers.example.org/papers', 'html', true, '', '', "
        "'200', '', now()) RETURNING id"
    )
    source = cursor.fetchone()[0]
    _run(cursor, "documents", DOCUMENTS, {"n": sizes.documents, "source": source})
    _run(cursor, "appearances", APPEARANCES, {})
    editions = {"n": sizes.editions, "sent": sizes.sent_editions, "subscribers": sizes.subscribers}
    _run(cursor, "editions", EDITIONS, editions)
    _run(cursor, "entries", ENTRIES, {})
    cursor.execute("SELECT id FROM digest_edition ORDER BY date DESC LIMIT %s", [sizes.sent_editions])
    for number, (edition,) in enumerate(cursor.fetchall()):
        _run(cursor, f"deliveries {number + 1}", DELIVERIES, {"edition": edition, "sending": number == 0})
    _run(cursor, "events", EVENTS, {"n": sizes.events})
    _run(cursor, "suppressions", SUPPRESSIONS, {"n": sizes.suppressions})
    _run(cursor, "votes", VOTES, {"n": sizes.votes})
