"""A small authoritative DNS server on a free loopback UDP port, built from dnspython's own message pieces.

Records are given as ``{("name.", "TXT"): ["text", ...], ("x._domainkey.name.", "CNAME"): ["target."]}``; a name
with no records of any type answers NXDOMAIN, a name with records of another type an empty answer (NODATA), as a real
server does. Every query is recorded, so a test can tell what was looked up.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


def _quoted(text: str) -> str:
    # TXT rdata in zone-file syntax: strings of at most 255 bytes each, quoted and escaped.
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return " ".join(f'"{escaped[i : i + 255]}"' for i in range(0, len(escaped), 255)) or '""'


@dataclass
class DnsServer:
    records: dict[tuple[str, str], list[str]]
    port: int = 0
    queries: list[tuple[str, str]] = field(default_factory=list)

    @property
    def nameserver(self) -> str:
        """The value for ``DNS_NAMESERVERS``."""
        return f"127.0.0.1:{self.port}"

    def answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text().lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        values = self.records.get((name, rdtype))
        if values:
            rdatas = [_quoted(value) if rdtype == "TXT" else value for value in values]
            response.answer.append(dns.rrset.from_text_list(question.name, 300, "IN", rdtype, rdatas))
        elif not any(known == name for known, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()


@contextmanager
def dns_server(records: Mapping[tuple[str, str], Sequence[str]]) -> Iterator[DnsServer]:
    normalized = {
        (name.lower().rstrip(".") + ".", rdtype.upper()): list(values) for (name, rdtype), values in records.items()
    }
    server = DnsServer(records=normalized)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    server.port = sock.getsockname()[1]
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                wire, client = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                reply = server.answer(wire)
            except dns.exception.DNSException:  # a malformed query is dropped, as a real server would
                continue
            sock.sendto(reply, client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stopping.set()
        thread.join(timeout=2)
        sock.close()
