"""Sending editions exactly once: the schedule, fan-out, chunk sends, the stalled-delivery sweep, the operator's send.

The database is the source of truth. A ``Delivery`` row (unique per edition x subscriber) is created for every
recipient at fan-out, before any task exists, so a lost task or a dead worker can never make someone be skipped:
the sweep finds the row and enqueues it again. A chunk is a key range (the edition, the first and the last
subscriber id), never a list of ids; its task claims the range's waiting rows with ``SELECT ... FOR UPDATE SKIP
LOCKED`` and moves them to ``sending`` under a fresh claim token, so a redelivered task, a second beat or an
operator's re-run finds nothing left to claim.

The one window that cannot be closed (SES has no idempotency key) is a process killed after the ESP accepted a
message and before that was recorded. It is kept to the message in flight by a *send journal* in Redis (the cache
without Redis): right before each ESP call the chunk writes, in one round trip, which delivery is now in flight
and the ESP message id of the one before. The rows themselves are written once per chunk, so a chunk costs the
same few queries whatever its size. When a claim's journal falls silent for ``NEWSLETTER_STALL_SECONDS`` the sweep
settles it from the journal: recorded sends become ``sent``, the one in flight becomes ``ambiguous`` and the rest
go back to ``queued``. ``NEWSLETTER_RESEND_AMBIGUOUS`` decides whether ambiguous rows are sent again
(at-least-once, the default) or left alone (at-most-once). If the journal itself is gone (Redis lost its data as
well), every unsettled row of that claim is ambiguous: the safe reading, never a silent re-send.

One module per concern; the imports point one way, from the callers down:

    operator (an operator's send) -> schedule (the beat tick) -> fanout -> queries
    sweep -> journal, fanout, chunk
    chunk (claim, send, record one chunk) -> journal, ratelimit, body, esp_errors, queries, dbretry
    trial ("send a test to me": the real message to one address, no Delivery)

The tick, each chunk and the operator's send first ask ``subscribers.brake`` (the complaint-rate brake, outside
this package) whether sending is paused; it imports nothing from here.
"""
