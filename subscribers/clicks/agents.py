"""Who followed a link, and the bot rule: which clicks are recorded but left out of every figure and score.

Mail security scanners (Proofpoint, Mimecast, Microsoft Safe Links, Barracuda...) open every link of a message
within seconds of its delivery, often with HEAD, from datacentre hosts whose User-Agent names a scanner, a headless
browser or an HTTP library. A click is flagged, in this order, when:

1. it is a HEAD request (browsers follow links with GET);
2. its User-Agent is empty or names a scanner, crawler, link previewer, headless browser or HTTP library;
3. it came at most ``SCANNER_WINDOW`` seconds after its delivery was sent, or before the send was even recorded.

Flagged clicks are stored (so the rule can be checked and tuned) but never counted.
"""

from __future__ import annotations

import re
from datetime import datetime

from subscribers.models import AgentClass, Click

Reason = Click.FlagReason

_MAX_AGENT_LENGTH = 512  # classify at most this much of a header a client controls

# Order matters: a scanner that also says "bot" is a scanner; a crawler built on an HTTP library is a bot.
_PATTERNS: tuple[tuple[AgentClass, re.Pattern[str]], ...] = (
    (
        AgentClass.SCANNER,
        re.compile(
            r"proofpoint|mimecast|barracuda|safelinks|safe links|messagelabs|symantec|trend ?micro|fortiguard|"
            r"fortinet|sophos|zscaler|forcepoint|ironport|cisco|check ?point|avanan|appriver|spamtitan|"
            r"hornetsecurity|\bvade|agari|abnormal|mailcontrol|trustwave|cloudmark|bitdefender|kaspersky|\beset\b"
        ),
    ),
    (
        AgentClass.BOT,
        re.compile(
            r"(?<!cu)bot\b|bot/|crawler|spider|slurp|preview|facebookexternalhit|embedly|bingpreview|whatsapp|"
            r"skypeuripreview|slack|discord|telegram|monitor|uptime|scan|validator|archiver|feedfetcher"
        ),
    ),
    (
        AgentClass.DATACENTRE,
        re.compile(r"headless|phantomjs|electron|puppeteer|playwright|selenium|amazon|google-cloud|azure|cloudflare"),
    ),
    (
        AgentClass.SCRIPT,
        re.compile(
            r"^curl|^wget|python|go-http-client|^java/|okhttp|libwww|httpclient|axios|node-fetch|undici|"
            r"^ruby|^perl|^php|aiohttp|httpx|powershell|^mozilla/4\.0 \(compatible;?\)$"
        ),
    ),
)
FLAGGED_AGENTS = frozenset(
    {AgentClass.SCANNER, AgentClass.BOT, AgentClass.DATACENTRE, AgentClass.SCRIPT, AgentClass.NONE}
)


def classify_agent(user_agent: str) -> AgentClass:
    """The class of a User-Agent header; anything not recognised as automated is a browser or mail app."""
    agent = user_agent.strip()[:_MAX_AGENT_LENGTH].lower()
    if not agent:
        return AgentClass.NONE
    for agent_class, pattern in _PATTERNS:
        if pattern.search(agent):
            return agent_class
    return AgentClass.BROWSER


def flag_reason(
    *, head: bool, agent: str, clicked_at: datetime, sent_at: datetime | None, sending: bool, window: int
) -> Click.FlagReason:
    """Why this click is left out of figures (``Reason.NONE``: it counts).

    ``sent_at`` is when its delivery was sent; ``sending`` says the delivery exists but its send is not recorded
    yet (the chunk is still going out), which can only mean the click came seconds after it was handed over.
    A click with no delivery at all (a curator's test send) has no window to fall in.
    """
    if head:
        return Reason.HEAD
    if agent in FLAGGED_AGENTS:
        return Reason.USER_AGENT
    if sending:
        return Reason.SCANNER_WINDOW
    if sent_at is not None and (clicked_at - sent_at).total_seconds() <= window:
        return Reason.SCANNER_WINDOW
    return Reason.NONE
