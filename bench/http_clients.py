"""The HTTP clients a delivery could go through, side by side: requests per second and the
client's CPU per request, POSTing to one loopback receiver (bench/receiver.py, its own
process) with 64 requests in flight over 64 URLs.

    .venv/bin/python bench/http_clients.py [--requests 20000] [--rounds 5]

Candidates:
  llhttp    tidings.delivery.http as shipped: its pool, answers parsed by llhttp (httptools)
  h11       the same pool, requests framed and answers parsed by h11 (httpcore's parser)
  previous  the hand-written HTTP/1.1 parser tidings had before (git 298d7ae, http1.py)
  aiohttp   aiohttp's ClientSession (the "raw loop" of bench/throughput.py)
Each round runs every candidate once (in turn, so machine noise hits them alike); the
table shows the median over rounds and the spread (min - max).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import throughput  # noqa: E402  (bench/ is not a package)

BODY = b'{"object_kind":"workflow","event":"workflow","workflow":{"task_id":1}}' * 8
HEADERS = {"Content-Type": "application/json", "X-Zadig-Event-UUID": "0190b3c1-0000-7000-8000"}
PREVIOUS = "298d7ae"  # the last commit with the hand-written parser


async def loop_of(
    send: Callable[[str], Awaitable[int]], base: str, count: int
) -> tuple[float, float]:
    """(requests/s, client CPU µs per request) for `count` POSTs, 64 in flight."""
    numbers = iter(range(count))

    async def one() -> None:
        for i in numbers:
            status = await send(f"{base}/hook/{i % 64}")
            assert status == 200, status

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(64)))
    elapsed = time.perf_counter() - started
    return count / elapsed, (time.process_time() - cpu) / count * 1e6


async def with_client(client: Any, base: str, count: int) -> tuple[float, float]:
    async with client as opened:

        async def send(url: str) -> int:
            answer = await opened.request("POST", url, HEADERS, BODY, 10.0)
            return int(answer.status)

        await loop_of(send, base, min(count, 2000))  # connections up, caches warm
        return await loop_of(send, base, count)


async def llhttp(base: str, count: int) -> tuple[float, float]:
    from tidings.delivery.http import HttpClient

    return await with_client(HttpClient(environ={}), base, count)


async def h11_client(base: str, count: int) -> tuple[float, float]:
    from tidings.delivery.http import client as module

    shipped = module.Connection
    module.Connection = H11Connection  # type: ignore[misc]
    try:
        return await with_client(H11Client(environ={}), base, count)
    finally:
        module.Connection = shipped  # type: ignore[misc]


async def previous(base: str, count: int) -> tuple[float, float]:
    source = subprocess.run(
        ["git", "show", f"{PREVIOUS}:src/tidings/delivery/http1.py"],
        cwd=HERE.parent,
        capture_output=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="tidings-http1-")) / "previous_http1.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("previous_http1", path)
    assert spec is not None and spec.loader is not None
    old = importlib.util.module_from_spec(spec)
    sys.modules["previous_http1"] = old  # its dataclasses look themselves up there
    spec.loader.exec_module(old)
    return await with_client(old.HttpClient(environ={}), base, count)


async def aiohttp_session(base: str, count: int) -> tuple[float, float]:
    import aiohttp

    async with aiohttp.ClientSession() as session:

        async def send(url: str) -> int:
            async with session.post(url, data=BODY, headers=HEADERS) as response:
                await response.read()
                return response.status

        await loop_of(send, base, min(count, 2000))
        return await loop_of(send, base, count)


# --- the h11 candidate: the same pool, h11 instead of llhttp ---------------------------------


class H11Client:
    """tidings' HttpClient whose requests go to H11Connection as parts, for h11 to frame."""

    def __init__(self, **options: Any) -> None:
        from tidings.delivery.http import HttpClient

        class Client(HttpClient):
            def _encode(self, method, target, headers, body, proxy):  # type: ignore[no-untyped-def]
                fields = [("Host", target.host_header), ("User-Agent", self.user_agent)]
                fields += list(headers.items())
                fields += [("Content-Length", str(len(body))), ("Accept-Encoding", "gzip")]
                return (method, target.path, fields, body)

        self._client = Client(**options)

    async def __aenter__(self) -> Any:
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        self._client.close()


class H11Connection(asyncio.Protocol):
    """What tidings.delivery.http.connection.Connection does, with h11."""

    def __init__(self) -> None:
        import h11

        self.h11 = h11
        self.transport: Any = None
        self.closed = False
        self.idle_since = 0.0
        self.idle_limit = 15.0
        self.state = h11.Connection(h11.CLIENT)
        self._waiter: asyncio.Future[Any] | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("closed"))

    def data_received(self, data: bytes) -> None:
        self.state.receive_data(data)
        self._pump()

    def eof_received(self) -> bool:
        self.state.receive_data(b"")
        self._pump()
        return False

    def _pump(self) -> None:
        h11 = self.h11
        while True:
            event = self.state.next_event()
            if event is h11.NEED_DATA:
                return
            if isinstance(event, h11.Response):
                self._status, self._headers, self._body = event.status_code, {}, []
                for name, value in event.headers:
                    self._headers[name.decode("latin-1")] = value.decode("latin-1")
            elif isinstance(event, h11.Data):
                self._body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                from tidings.delivery.http.connection import Answer

                assert self._waiter is not None
                self._waiter.set_result(Answer(self._status, self._headers, b"".join(self._body)))
                return
            elif isinstance(event, h11.ConnectionClosed):
                return

    async def exchange(self, parts: Any, deadline: float, tunnel: bool = False) -> Any:
        h11 = self.h11
        method, path, fields, body = parts
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        timer = loop.call_at(deadline, self.close)
        send = self.state.send
        self.transport.write(
            send(h11.Request(method=method, target=path, headers=fields))
            + send(h11.Data(data=body))
            + send(h11.EndOfMessage())
        )
        try:
            return await self._waiter
        finally:
            timer.cancel()
            self._waiter = None

    @property
    def reusable(self) -> bool:
        h11 = self.h11
        if self.closed or self.state.our_state is not h11.DONE:
            return False
        if self.state.their_state is not h11.DONE:
            return False
        self.state.start_next_cycle()
        return True

    def alive(self) -> bool:
        return not self.closed and not self.transport.is_closing()

    def idle(self) -> None:
        self.idle_since = time.monotonic()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


CANDIDATES: dict[str, Callable[[str, int], Awaitable[tuple[float, float]]]] = {
    "llhttp (tidings.delivery.http)": llhttp,
    "h11, same pool": h11_client,
    "previous hand-written parser": previous,
    "aiohttp ClientSession": aiohttp_session,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    receiver, base = throughput.start_receiver()
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in CANDIDATES}
    try:
        for _ in range(args.rounds):
            for name, run in CANDIDATES.items():
                results[name].append(asyncio.run(run(base, args.requests)))
    finally:
        receiver.terminate()
    width = max(map(len, CANDIDATES))
    rate_head, cpu_head = "req/s median (min - max)", "CPU µs/req median (min - max)"
    print(f"{'client':<{width}}  {rate_head:>26}  {cpu_head:>30}")
    for name, runs in results.items():
        rates = [r for r, _ in runs]
        cpus = [c for _, c in runs]
        rate = f"{statistics.median(rates):>8.0f} ({min(rates):.0f} - {max(rates):.0f})"
        cpu = f"{statistics.median(cpus):>8.1f} ({min(cpus):.1f} - {max(cpus):.1f})"
        print(f"{name:<{width}}  {rate:>26}  {cpu:>30}")
    python = sys.version.split()[0]
    print(f"({args.rounds} rounds of {args.requests} POSTs, 64 in flight, Python {python})")


if __name__ == "__main__":
    main()
