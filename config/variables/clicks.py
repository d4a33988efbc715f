"""Click tracking's variables (subscribers/clicks/, and the clicks part of the trending score)."""

from __future__ import annotations

from config.variables.spec import ALL, Group, Kind, Reader, Variable

CLICKS = (
    Variable(
        name="TRACK_CLICKS",
        kind=Kind.BOOL,
        default=True,
        meaning="On: every paper link of an edition goes through the site's own redirect `/r/<token>/<number>/`, "
        "which records one click per reader, edition, paper and link kind. Off: emails carry the plain links and "
        "nothing is recorded (links in emails sent earlier still redirect).",
        readers=ALL,
        group=Group.CLICKS,
    ),
    Variable(
        name="SCANNER_WINDOW",
        kind=Kind.INT,
        default=60,
        meaning="Seconds: a click this soon after its delivery was sent (or before the send was recorded) is taken "
        "for a mail scanner's: recorded, flagged, and left out of every figure and score.",
        readers=(Reader.WEB, Reader.WORKER),
        group=Group.CLICKS,
        minimum=0,
        maximum=3600,
    ),
    Variable(
        name="CLICK_DRAIN_SECONDS",
        kind=Kind.INT,
        default=5,
        meaning="With Redis, the redirect appends each click to a Redis stream and beat drains it into the database "
        "this often; the clicks a Redis restart can lose are those not drained yet, unless Redis persists them.",
        readers=(Reader.BEAT,),
        group=Group.CLICKS,
        minimum=1,
        maximum=600,
    ),
    Variable(
        name="CLICK_STREAM_KEY",
        kind=Kind.TEXT,
        default="trending-papers:clicks",
        meaning="The Redis stream recorded clicks wait in until drained.",
        readers=(Reader.WEB, Reader.WORKER),
        group=Group.CLICKS,
    ),
    Variable(
        name="TRENDING_CLICK_WEIGHT",
        kind=Kind.FLOAT,
        default=1.0,
        meaning="Weight of the trending score's `clicks` part: weight * log2(1 + readers who clicked the paper in "
        "the last TRENDING_CLICK_DAYS days, scanners left out). 0 turns the part off.",
        readers=(Reader.WORKER, Reader.WEB, Reader.COMMANDS),
        group=Group.CLICKS,
        minimum=0.0,
    ),
    Variable(
        name="TRENDING_CLICK_DAYS",
        kind=Kind.INT,
        default=3,
        meaning="Days of readers' clicks the `clicks` part counts, ending on the edition's date.",
        readers=(Reader.WORKER, Reader.WEB, Reader.COMMANDS),
        group=Group.CLICKS,
        minimum=1,
        maximum=60,
    ),
)
