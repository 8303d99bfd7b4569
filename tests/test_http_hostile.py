"""Receivers that answer badly on purpose (users configure the receivers; some are broken,
some hostile): each answer ends the attempt with a clear error instead of a guess, and none
can take the worker's memory or time. Real sockets on loopback, raw bytes."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from helpers import enqueue_tasks, webhook_config
from hostile import RawServer, gzip_bomb, ok
from tidings.config.loading import loads
from tidings.delivery.http import HttpClient, HttpError
from tidings.delivery.resolve import Resolver
from tidings.delivery.worker import Backoff, Settings, Worker
from tidings.store.db import Store


async def answer_of(raw: bytes, timeout: float = 5.0) -> str:
    """The error a client reports for this answer (the test fails if there is none)."""
    async with RawServer(lambda n, r: raw) as server, HttpClient() as client:
        with pytest.raises(HttpError) as caught:
            await client.request("POST", server.url(), {}, b"{}", timeout)
    assert caught.value.sent and not caught.value.permanent  # unknown outcome: retried
    assert "T0KEN" not in str(caught.value)
    return str(caught.value)


BOMB_CLIENT = """
import asyncio, sys
from tidings.delivery.http import HttpClient, HttpError

async def main(url):
    async with HttpClient() as client:
        try:
            answer = await client.request("POST", url, {}, b"{}", 60)
            print("answered", len(answer.body))
        except HttpError as exc:
            print(exc)

asyncio.run(main(sys.argv[1]))
"""

# Starts the client and reports its own peak RSS: a child's ru_maxrss would start from the
# size of its parent (this test process) when it forked, so a small process starts it.
RSS_PROBE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, text=True)
output = child.stdout.read()
_, status, usage = os.wait4(child.pid, 0)
print(usage.ru_maxrss)
print(output, end="")
"""


async def test_a_gzip_bomb_is_cut_at_the_limit_and_memory_stays_small() -> None:
    bomb = gzip_bomb(1)  # ~1 MB on the wire, 1 GiB inflated
    assert len(bomb) < 1024 * 1024
    reply = ok(bomb, extra="Content-Encoding: gzip\r\nContent-Type: application/json\r\n")
    async with RawServer(lambda n, r: reply) as server:
        probe = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            RSS_PROBE,
            sys.executable,
            "-c",
            BOMB_CLIENT,
            server.url(),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(probe.communicate(), 120)
    peak_kib, message = out.decode().split("\n", 1)
    assert "answer larger than 1 MiB once decoded (gzip)" in message
    assert int(peak_kib) < 200 * 1024, f"peak RSS {int(peak_kib) // 1024} MiB"


async def test_a_deflate_bomb_is_cut_too() -> None:
    import zlib

    packed = zlib.compress(bytes(64 << 20), 9)  # 64 MiB in ~64 KB
    reason = await answer_of(ok(packed, extra="Content-Encoding: deflate\r\n"))
    assert reason.startswith("answer larger than 1 MiB once decoded (deflate)")


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        ("Content-Length: 2\r\nContent-Length: 2\r\n", "Duplicate Content-Length"),
        ("Content-Length: 2\r\nContent-Length: 5\r\n", "Duplicate Content-Length"),
        ("Content-Length: 2, 5\r\n", "Invalid character in Content-Length"),
        ("Content-Length: -2\r\n", "Invalid character in Content-Length"),
        (
            "Transfer-Encoding: chunked\r\nContent-Length: 2\r\n",
            "Content-Length can't be present with Transfer-Encoding",
        ),
    ],
)
async def test_conflicting_or_malformed_lengths_are_errors(head: str, reason: str) -> None:
    raw = f"HTTP/1.1 200 OK\r\n{head}\r\nok".encode()
    assert await answer_of(raw) == f"malformed answer: {reason}"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", "Invalid response status"),
        (b"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", "Invalid status code"),
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "Expected HTTP/"),
        (b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", "Missing expected CR after response line"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n",
            "Invalid character in chunk size",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n",
            "Expected LF after chunk data",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n",
            "Chunk size overflow",
        ),
        (b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n", "whitespace"),
    ],
)
async def test_malformed_status_lines_chunks_and_headers_are_errors(raw: bytes, reason: str):
    message = await answer_of(raw)
    assert message.startswith("malformed answer: ") and reason in message


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        ("Content-Encoding: br\r\nContent-Length: 2\r\n", "Content-Encoding 'br'"),
        ("Content-Encoding: gzip, gzip\r\nContent-Length: 2\r\n", "Content-Encoding 'gzip, gzip'"),
        ("Transfer-Encoding: gzip, chunked\r\n", "Transfer-Encoding 'gzip, chunked'"),
        ("Content-Encoding: gzip\r\nContent-Length: 2\r\n", "not valid gzip"),
    ],
)
async def test_encodings_that_cannot_be_undone_are_errors(head: str, reason: str) -> None:
    assert reason in await answer_of(f"HTTP/1.1 200 OK\r\n{head}\r\nok".encode())


async def test_protocol_switches_and_second_answers() -> None:
    upgrade = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"
    assert "switches protocols" in await answer_of(upgrade)
    # Two answers to one request: the first counts, the connection is never used again.
    twice = ok() + ok(b'{"errcode":1}')
    async with RawServer(lambda n, r: twice) as server, HttpClient() as client:
        for _ in range(2):
            answer = await client.request("POST", server.url(), {}, b"{}", 5)
            assert answer.body == b'{"errcode":0}'
    assert server.connections == 2


async def endless(writer: asyncio.StreamWriter, head: bytes, piece: bytes) -> None:
    writer.write(head)
    try:
        for _ in range(100_000):  # far past any limit; stops when the client hangs up
            writer.write(piece)
            await writer.drain()
    except ConnectionError:
        pass


@pytest.mark.parametrize(
    ("head", "piece", "reason"),
    [
        (b"HTTP/1.1 200 OK\r\n", b"X-Again: and again\r\n", "more than 100 header lines"),
        (b"HTTP/1.1 200 OK\r\nX-Long: ", b"x" * 1000, "answer headers larger than 64 KiB"),
        (b"HTTP/1.1 200 OK\r\n\r\n", b"y" * 4096, "answer larger than 1 MiB"),  # until close
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"1000\r\n" + b"z" * 4096 + b"\r\n",
            "answer larger than 1 MiB",
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 100 Continue\r\n\r\n", "larger than 64 KiB"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: ",
            b"t" * 4096,
            "answer larger than 4 MiB on the wire",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"1;" + b"e" * 4000 + b"\r\nz\r\n",  # chunk extensions: framing, not body
            "answer larger than 4 MiB on the wire",
        ),
    ],
)
async def test_endless_heads_and_bodies_stop_at_their_limits(head, piece, reason) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        await endless(writer, head, piece)

    async with RawServer(lambda n, r: answer) as server, HttpClient() as client:
        with pytest.raises(HttpError, match=reason):
            await client.request("POST", server.url(), {}, b"{}", 30)


async def test_a_declared_length_over_the_limit_is_refused_before_reading_it() -> None:
    huge = b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n"
    assert await answer_of(huge) == "answer larger than 1 MiB"


async def test_a_drip_fed_answer_ends_at_the_deadline() -> None:
    async def drip(writer: asyncio.StreamWriter) -> None:
        try:
            for byte in ok():
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)
        except ConnectionError:
            pass

    async with RawServer(lambda n, r: drip) as server, HttpClient() as client:
        with pytest.raises(HttpError, match=r"^answer not complete within 0.5 s$"):
            await client.request("POST", server.url(), {}, b"{}", 0.5)


# --- what the worker makes of it ------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path}/tidings.db").open()


async def deliver_once(store: Store, url: str) -> dict:
    """One webhook delivery, one attempt; its row and its attempt as recorded."""
    config = loads(webhook_config([url]))
    ids = enqueue_tasks(store, config, 1)
    settings = Settings(timeout=3, backoff=Backoff(base=60), max_attempts=5)
    async with Worker(store, Resolver(config), settings=settings) as worker:
        await worker.run_until(ids, time.time() + 0.5)
    with store.transaction(write=False) as db:
        (row,) = db.run(
            "SELECT status, attempts, last_error FROM deliveries WHERE id = :id", {"id": ids[0]}
        )
        log = db.run(
            "SELECT outcome, http_status, detail FROM attempts WHERE delivery_id = :id",
            {"id": ids[0]},
        )
    return {"status": row[0], "attempts": row[1], "error": row[2], "log": log}


async def test_a_limit_is_an_unknown_outcome_that_is_retried(store: Store) -> None:
    bomb = ok(gzip_bomb(1), extra="Content-Encoding: gzip\r\n")
    async with RawServer(lambda n, r: bomb) as server:
        found = await deliver_once(store, server.url("/zadig?token=T0KEN"))
    assert found["status"] == "pending" and found["attempts"] == 1  # to be retried
    assert found["log"][0][0] == "retry"
    assert found["error"] == (
        "network error: answer larger than 1 MiB once decoded (gzip); it is not read further "
        "(outcome unknown: the receiver may have the request)"
    )


async def test_redirects_are_not_followed_but_reported_with_their_status(store: Store) -> None:
    async with RawServer(lambda n, r: ok()) as elsewhere:
        moved = ok(b"", extra=f"Location: {elsewhere.url()}\r\n", status="302 Found")
        async with RawServer(lambda n, r: moved) as server:
            found = await deliver_once(store, server.url())
    assert found["status"] == "failed" and found["log"][0][1] == 302
    assert found["error"].startswith("HTTP 302")
    assert elsewhere.requests == []
