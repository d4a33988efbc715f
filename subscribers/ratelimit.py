"""Sign-up rate limits per client IP and per address, counted by django-ratelimit on the default cache.

The cache is Redis in production, so the counts hold across every web process. Windows are fixed (django-ratelimit
keys each window by its start), so a limited client recovers when the window turns over.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage


@dataclass(frozen=True)
class Verdict:
    limited: bool
    retry_after: int  # seconds until the window that limited us ends (0 when not limited)


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or the address ``NUMBER_OF_PROXIES`` hops from the right of X-Forwarded-For.

    Counting from the right means a client cannot choose its IP by sending its own X-Forwarded-For: only the hops
    our proxies appended are trusted.
    """
    ip = request.META.get("REMOTE_ADDR", "")
    proxies = settings.NUMBER_OF_PROXIES
    if proxies:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies:
            ip = hops[-proxies]
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if address.version == 6:
        # One IPv6 customer usually holds a whole /64: count the network, or one machine could rotate freely.
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)


def _check(request: HttpRequest, *, group: str, value: str, rate: str) -> Verdict:
    usage = get_usage(request, group=group, key=lambda _group, _request: value, rate=rate, increment=True)
    if usage is None or not usage["should_limit"]:
        return Verdict(limited=False, retry_after=0)
    return Verdict(limited=True, retry_after=max(1, int(usage["time_left"])))


def check_signup(request: HttpRequest, *, email: str | None) -> Verdict:
    """Count one sign-up attempt against both limits; limited if either is exceeded.

    Both counters advance on every attempt, so hammering one address from many IPs, or many addresses from one IP,
    is caught either way. Attempts with an invalid address (``email=None``) still count against the IP.
    """
    ip = client_ip(request) or "unknown"
    verdicts = [_check(request, group="subscribe-ip", value=ip, rate=settings.SUBSCRIBE_RATE_PER_IP)]
    if email:
        verdicts.append(
            _check(request, group="subscribe-address", value=email, rate=settings.SUBSCRIBE_RATE_PER_ADDRESS)
        )
    limited = [v for v in verdicts if v.limited]
    if not limited:
        return Verdict(limited=False, retry_after=0)
    return Verdict(limited=True, retry_after=max(v.retry_after for v in limited))
