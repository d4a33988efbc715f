from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from subscribers.clicks.agents import classify_agent, flag_reason
from subscribers.models import AgentClass, Click

Reason = Click.FlagReason
SENT = datetime(2025, 3, 14, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36",
            AgentClass.BROWSER,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Mobile/15E148",
            AgentClass.BROWSER,
        ),
        ("Mozilla/5.0 (Linux; Android 10; CUBOT KINGKONG 7) AppleWebKit/537.36 Chrome/120 Mobile", AgentClass.BROWSER),
        ("Mozilla/5.0 (compatible; Proofpoint URL Defense)", AgentClass.SCANNER),
        ("Mimecast-URL-Protect/1.0", AgentClass.SCANNER),
        ("Mozilla/5.0 (compatible; Barracuda Sentinel)", AgentClass.SCANNER),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", AgentClass.BOT),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", AgentClass.BOT),
        ("facebookexternalhit/1.1", AgentClass.BOT),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/124.0 Safari/537.36",
            AgentClass.DATACENTRE,
        ),
        ("curl/8.5.0", AgentClass.SCRIPT),
        ("python-requests/2.32.3", AgentClass.SCRIPT),
        ("Go-http-client/1.1", AgentClass.SCRIPT),
        ("", AgentClass.NONE),
        ("   ", AgentClass.NONE),
    ],
)
def test_user_agents_are_classed(agent: str, expected: AgentClass) -> None:
    assert classify_agent(agent) == expected


def test_a_huge_user_agent_is_classed_from_its_start() -> None:
    assert classify_agent("Mozilla/5.0 " + "x" * 100_000 + " curl") == AgentClass.BROWSER


def _reason(**overrides: object) -> str:
    args: dict[str, object] = {
        "head": False,
        "agent": AgentClass.BROWSER,
        "clicked_at": SENT + timedelta(hours=2),
        "sent_at": SENT,
        "sending": False,
        "window": 60,
    }
    args.update(overrides)
    return flag_reason(**args)  # type: ignore[arg-type]


def test_a_browser_click_long_after_the_send_counts() -> None:
    assert _reason() == Reason.NONE


def test_head_is_a_scanner_whatever_else() -> None:
    assert _reason(head=True) == Reason.HEAD


@pytest.mark.parametrize(
    "agent", [AgentClass.SCANNER, AgentClass.BOT, AgentClass.DATACENTRE, AgentClass.SCRIPT, AgentClass.NONE]
)
def test_automated_agents_are_flagged(agent: AgentClass) -> None:
    assert _reason(agent=agent) == Reason.USER_AGENT


def test_the_scanner_window_is_inclusive_and_measured_from_the_send() -> None:
    assert _reason(clicked_at=SENT + timedelta(seconds=3)) == Reason.SCANNER_WINDOW
    assert _reason(clicked_at=SENT + timedelta(seconds=60)) == Reason.SCANNER_WINDOW
    assert _reason(clicked_at=SENT + timedelta(seconds=61)) == Reason.NONE
    # The ESP can deliver (and a scanner click) before our clock recorded its answer.
    assert _reason(clicked_at=SENT - timedelta(seconds=1)) == Reason.SCANNER_WINDOW
    assert _reason(clicked_at=SENT + timedelta(seconds=3), window=0) == Reason.NONE


def test_a_click_before_the_send_is_recorded_is_in_the_window() -> None:
    assert _reason(sent_at=None, sending=True) == Reason.SCANNER_WINDOW


def test_a_click_with_no_delivery_has_no_window() -> None:
    # A curator's test send: nobody knows when it was sent, so only the method and the agent can flag it.
    assert _reason(sent_at=None, sending=False, clicked_at=SENT) == Reason.NONE
