"""Network namespaces as "worker hosts" for scale-out tests: each is joined to the root namespace by a veth pair.

Only addresses of the test's own /30 links are used; nothing is routed anywhere else. ``hosts()`` removes every
namespace and link it made, whatever happens in the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class NamespacesUnavailable(RuntimeError):
    """Raised with the reason when this machine cannot make network namespaces (not root, no iproute2, ...)."""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


@dataclass(frozen=True)
class Host:
    netns: str
    host_if: str  # the root namespace's end of the veth pair
    ns_if: str  # the end inside the namespace
    host_addr: str  # where the root namespace's forwarders listen for this host
    ns_addr: str

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside this host's namespace (``ip netns exec`` execs it: the pid stays the same)."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def cut_off(self) -> None:
        """The host's link goes down: every connection it has hangs, as when a machine drops off the network."""
        ip("-n", self.netns, "link", "set", self.ns_if, "down")
        ip("link", "set", self.host_if, "down", check=False)


def _preflight() -> None:
    if shutil.which("ip") is None:
        raise NamespacesUnavailable("iproute2's `ip` command is not installed")
    if os.geteuid() != 0:
        raise NamespacesUnavailable("creating network namespaces needs root")


@contextmanager
def hosts(count: int, *, tag: str | None = None) -> Iterator[list[Host]]:
    _preflight()
    tag = tag or str(os.getpid() % 100_000)
    # A /24 per run, chosen by the pid, so two runs on one machine (a developer's and CI's) do not collide.
    subnet = 10 + os.getpid() % 200
    made: list[Host] = []
    try:
        for index in range(count):
            letter = chr(ord("a") + index)
            host = Host(
                netns=f"tp{tag}{letter}",
                host_if=f"tp{tag}{letter}h",
                ns_if=f"tp{tag}{letter}n",
                host_addr=f"10.231.{subnet}.{4 * index + 1}",
                ns_addr=f"10.231.{subnet}.{4 * index + 2}",
            )
            result = ip("netns", "add", host.netns, check=False)
            if result.returncode != 0:
                raise NamespacesUnavailable(f"`ip netns add` failed: {result.stderr.strip()}")
            made.append(host)
            ip("link", "add", host.host_if, "type", "veth", "peer", "name", host.ns_if, "netns", host.netns)
            ip("addr", "add", f"{host.host_addr}/30", "dev", host.host_if)
            ip("link", "set", host.host_if, "up")
            ip("-n", host.netns, "addr", "add", f"{host.ns_addr}/30", "dev", host.ns_if)
            ip("-n", host.netns, "link", "set", host.ns_if, "up")
            ip("-n", host.netns, "link", "set", "lo", "up")
        yield made
    finally:
        for host in made:
            # Deleting the namespace destroys its end of the pair, and with it the pair; the explicit delete
            # covers a namespace that still has a process in it.
            ip("netns", "del", host.netns, check=False)
            ip("link", "del", host.host_if, check=False)
