"""A small TCP forwarder that makes services on 127.0.0.1 reachable from a test's network namespaces.

    python -m tests.support.forward NAME=LISTEN_HOST:LISTEN_PORT=TARGET_HOST:TARGET_PORT ...

Runs in the root namespace, listening on a veth address, so PostgreSQL, Redis and moto need no reconfiguration.
It prints ``ready`` once every listener is up. Commands on stdin, one per line:

- ``hold NAME``: from now on, bytes that clients of route NAME send are read and dropped, never forwarded, and
  ``held NAME`` is printed on the first such byte. Holding the ESP route of a worker host freezes that host's
  in-flight ESP request before it reaches the ESP: what a slow proxy does, so a test can cut the host off at a
  moment when the ESP has certainly not received the message in flight.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field


@dataclass
class Route:
    name: str
    listen: tuple[str, int]
    target: tuple[str, int]
    held: bool = False
    reported: bool = False
    writers: set[asyncio.StreamWriter] = field(default_factory=set)


def parse(spec: str) -> Route:
    name, listen, target = spec.split("=")
    listen_host, listen_port = listen.rsplit(":", 1)
    target_host, target_port = target.rsplit(":", 1)
    return Route(name=name, listen=(listen_host, int(listen_port)), target=(target_host, int(target_port)))


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, route: Route | None) -> None:
    """Copy one direction; ``route`` is given for the client-to-target direction, the one a hold stops."""
    try:
        while data := await reader.read(65536):
            if route is not None and route.held:
                if not route.reported:
                    route.reported = True
                    print(f"held {route.name}", flush=True)
                continue
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        if not (route is not None and route.held):
            # Half-close so the other side sees the end of the stream (HTTP keep-alive, psql terminate).
            try:
                writer.write_eof()
            except (OSError, RuntimeError):
                writer.close()


async def serve(route: Route) -> asyncio.Server:
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection(*route.target)
        except OSError:
            client_writer.close()
            return
        route.writers.update((client_writer, target_writer))
        await asyncio.gather(
            pump(client_reader, target_writer, route),
            pump(target_reader, client_writer, None),
        )
        for writer in (client_writer, target_writer):
            route.writers.discard(writer)
            writer.close()

    return await asyncio.start_server(handle, *route.listen, reuse_address=True)


async def control(routes: dict[str, Route]) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command, _, name = line.decode().strip().partition(" ")
        if command == "hold" and name in routes:
            routes[name].held = True
            print(f"holding {name}", flush=True)
    # stdin closed: the test is gone, so is the forwarder.


async def main(specs: list[str]) -> None:
    routes = {route.name: route for route in map(parse, specs)}
    servers = [await serve(route) for route in routes.values()]
    print("ready", flush=True)
    try:
        await control(routes)
    finally:
        for server in servers:
            server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
