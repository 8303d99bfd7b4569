"""The delivery worker: claim destinations, send their deliveries in order, record, retry.

Used by `tidings worker` (forever) and inline by `send` / `notify` (until their own
deliveries are done). At-least-once: a result is recorded after the send, so a worker killed
in between leaves the delivery pending; when its lease ends another worker sends it again
with the same id (X-Zadig-Event-UUID, Feishu uuid), so the receiver can drop the duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from tidings import channels
from tidings.channels.base import Destination, Fail, Limits, Ok, Outcome, Request, Retry
from tidings.delivery import breaker, coalesce, pacing
from tidings.delivery.clock import Clock
from tidings.delivery.commit import Batch, GroupCommit
from tidings.delivery.ids import short
from tidings.delivery.io import WorkerIO
from tidings.delivery.leases import AttemptStopped, Leases
from tidings.delivery.network import network_of
from tidings.delivery.outbox import request_from_json
from tidings.delivery.resolve import Resolver, Unresolved
from tidings.delivery.transport import HttpTransport, TransportError, prepare
from tidings.redact import Redactor, compose, own_secrets
from tidings.store import digests, queue, workers
from tidings.store.db import Store
from tidings.store.queue import Circuit, Pending, Swept

if TYPE_CHECKING:
    from tidings.delivery.metrics import Metrics

T = TypeVar("T")
INTERPRET_INLINE = 64 * 1024  # answer bodies larger than this are interpreted in a thread


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt n+1: base * factor**(n-1), capped, times a random factor in [0.5, 1]
    (jitter, so retries from many deliveries do not arrive together); never less than the
    platform asked for."""

    base: float = 0.5
    factor: float = 2.0
    cap: float = 300.0

    def delay(self, attempt: int, asked: float | None = None) -> float:
        computed = min(self.cap, self.base * self.factor ** (attempt - 1))
        return max(computed * random.uniform(0.5, 1.0), asked or 0.0)


@dataclass
class Settings:
    concurrency: int = 32  # destinations sent to at once
    # While other workers are alive, a claim takes its share of the destinations that are due
    # (their number divided by the workers alive), at least this many: several workers then
    # share what is due rather than the first to look taking all of it. Alone, it takes all.
    claim_batch: int = 4
    lease: float = 30.0  # seconds a claimed destination stays ours
    per_claim: int = 200  # deliveries of one destination sent under one claim, at most
    max_attempts: int = 12
    timeout: float = 10.0  # per HTTP attempt
    # One attempt with all its steps (a mail's round trips, a Feishu app's token and lookups).
    attempt_timeout: float = 120.0
    poll: float = 0.05  # idle wait between claims
    sweep_every: float = 60.0  # seconds between looks for deliveries nobody here can send
    # Circuit breaker: this many retryable failures in a row pause the destination as a whole
    # (0: never), for breaker_pause seconds, doubling with each pause in a row up to
    # breaker_max_pause; after a pause one delivery tries it, and a success resumes it.
    breaker_failures: int = 5
    breaker_pause: float = 30.0
    breaker_max_pause: float = 1800.0
    coalesce_after: float = 60.0  # a robot's backlog slower than this to send is merged (0: never)
    backoff: Backoff = field(default_factory=Backoff)


@dataclass(frozen=True)
class Final:
    """A delivery that reached sent, failed or dead."""

    id: str
    channel: str
    destination: str
    address: str
    label: str
    status: str
    code: Any
    detail: str
    attempts: int
    source: str = ""  # the ctl it came from
    digest_id: str = ""  # status coalesced: the digest that carries it

    def describe(self) -> str:
        """Its end in a few words: the platform's code and the reason."""
        code = f"code {self.code}: " if self.code is not None else ""
        return f"{code}{self.detail}"


@dataclass(frozen=True)
class Retrying:
    """A delivery whose attempt failed and that will be tried again (for progress lines)."""

    id: str
    channel: str
    address: str
    attempt: int  # the attempt that just failed
    next_at: float  # clock time of the next attempt
    reason: str


EXPIRED_UNKNOWN = (
    "expired: no process whose configuration has its destination sent it before its age "
    "limit (system.delivery.max_age, or the --deadline of the command that queued it)"
)
GONE = (
    "its destination ({address}) is no longer in {config}: it was removed, or its address "
    "changed, after this delivery was queued, and it is sent nowhere else; `tidings retry "
    "{id} --replan` sends its event to today's configuration"
)


def _outcome_name(outcome: Outcome) -> str:
    return "ok" if isinstance(outcome, Ok) else "retry" if isinstance(outcome, Retry) else "fail"


def _detail(outcome: Outcome) -> str:
    return outcome.detail if isinstance(outcome, Ok) else outcome.reason


def worker_name() -> str:
    """host:pid:random, so a worker's leases are told apart from another's."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        store: Store,
        resolver: Resolver,
        *,
        clock: Clock | None = None,
        settings: Settings | None = None,
        limits: Callable[[str], Limits] | None = None,
        redactor: Redactor | None = None,
        on_final: Callable[[Final], None] | None = None,
        on_retry: Callable[[Retrying], None] | None = None,
        metrics: Metrics | None = None,
        name: str | None = None,
    ) -> None:
        self.store = store
        self.resolver = resolver
        self.clock = clock or Clock()
        self.settings = settings or Settings()
        self.limits = limits or (lambda channel: channels.get(channel).limits)
        self.redact = redactor or Redactor()
        self.on_final = on_final
        self.on_retry = on_retry
        self.metrics = metrics
        # The configuration this worker runs with, by name and since when: deliveries it
        # queued earlier whose destination it no longer has are ended (queue.sweep_gone).
        config = resolver.config
        self._config = (config.name, config.loaded_at) if config is not None else None
        self._swept_at = 0.0
        self.name = name or worker_name()
        # One thread for the database: SQLite wants a single writer, and it keeps the event
        # loop free while a statement runs.
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidings-db")
        # SQLite statements take microseconds: running them on the loop costs less than
        # handing each to a thread (and fighting it for the GIL). Network databases get one.
        self._db_inline = store.dialect == "sqlite"
        network = network_of(resolver.config)
        self._transport = HttpTransport(self.settings.timeout, network)
        self._io = WorkerIO(
            self._transport,
            self.clock,
            self.settings.timeout,
            ca_file=network.ca_file if network is not None else None,
        )
        self._commit = GroupCommit(self._write)
        self._watched: set[str] = set()
        self._wake = asyncio.Event()
        self._leases = Leases(self.clock, self.settings.lease, self.settings.attempt_timeout)
        self._renewer: asyncio.Task[None] | None = None

    @property
    def config_name(self) -> str | None:
        """The name of the configuration this worker runs with (None: ad hoc)."""
        return self._config[0] if self._config is not None else None

    async def __aenter__(self) -> Worker:
        await self._transport.__aenter__()
        await self.run_db(queue.repair, self.store, self.clock.now())
        await self.run_db(workers.beat, self.store, self.name, self.clock.now())
        await self.sweep()
        self._renewer = asyncio.create_task(self._renew_leases())
        return self

    async def sweep(self) -> None:
        """End what nobody can send any more: past its age limit with a destination no
        process here knows, or queued by this configuration to a destination it dropped."""
        now = self.clock.now()
        self._swept_at = now
        addresses = self.resolver.addresses_json()
        swept = await self.run_db(
            queue.sweep_expired, self.store, now, addresses, lambda _row: EXPIRED_UNKNOWN
        )
        if self._config is not None:
            name, loaded_at = self._config

            def gone(row: queue.Swept) -> str:
                shown = row.address or row.destination
                return GONE.format(address=shown, config=name, id=short(row.id))

            swept += await self.run_db(
                queue.sweep_gone, self.store, now, addresses, name, loaded_at, gone
            )
        for row in swept:
            self._report(row, "dead", Fail(row.reason), row.attempts)

    async def __aexit__(self, *exc: object) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        try:
            await self._commit.flush()
            # Not counted by the others any more; if the database is away, it is once its
            # heartbeat is a lease old.
            with contextlib.suppress(Exception):
                await self.run_db(workers.leave, self.store, self.name)
        finally:
            await self._transport.__aexit__(*exc)
            self._db.shutdown(wait=True)

    async def run_db(self, func: Callable[..., T], *args: Any) -> T:
        if self._db_inline:
            return func(*args)
        return await asyncio.get_running_loop().run_in_executor(self._db, func, *args)

    async def _write(self, batch: Batch) -> None:
        await self.run_db(
            queue.write, self.store, batch.updates, batch.attempts, batch.releases, self.name
        )

    # --- leases ----------------------------------------------------------------------------

    async def _renew_leases(self) -> None:
        """Renew the leases of the destinations being sent to, every third of a lease
        (delivery.leases); the worker's heartbeat goes with it: alive while seen within a
        lease."""
        while True:
            await self.clock.sleep(self.settings.lease / 3)
            with contextlib.suppress(Exception):  # the database is away: tried again next time
                await self.run_db(workers.beat, self.store, self.name, self.clock.now())
            held = dict(self._leases.held)
            if not held:
                continue
            until = self.clock.now() + self.settings.lease
            keys = orjson.dumps(list(held)).decode()
            try:
                renewed = await self.run_db(queue.renew, self.store, self.name, keys, until)
            except Exception:  # the database is away: sends end with their lease
                continue
            self._leases.renewed(held, renewed, until)

    async def _within_lease(
        self,
        request: Request,
        destination: Destination,
        row: Pending,
        claimed: queue.Claimed,
        started: float,
    ) -> tuple[Outcome, int | None]:
        """One attempt, stopped (a Retry) when it would outlast system.delivery.attempt_timeout
        or the lease on its destination (as renewed): a send still running when another worker
        could claim the destination is stopped first."""
        try:
            return await self._leases.within(
                claimed, started, lambda: self._talk(request, destination, row, started)
            )
        except AttemptStopped as stopped:
            if stopped.whole:
                return Retry(
                    f"no result within {self.settings.attempt_timeout:g} s for the whole "
                    "attempt (system.delivery.attempt_timeout): stopped, outcome unknown"
                ), None
            return Retry(
                "stopped before this worker's lease on the destination could end "
                "(another worker may send it): outcome unknown"
            ), None

    # --- one destination --------------------------------------------------------------------

    def _finish(
        self,
        row: Pending,
        status: str,
        outcome: Outcome,
        attempts: int,
        now: float,
        redact: Callable[[str], str] | None = None,
    ) -> queue.DeliveryUpdate:
        detail = (redact or self.redact)(_detail(outcome))
        return {
            "id": row.id,
            "status": status,
            "attempts": attempts,
            "updated_at": now,
            "next_attempt_at": row.next_attempt_at,
            "finished_at": now if status in queue.FINAL else None,
            "last_code": None if outcome.code is None else str(outcome.code),
            "last_error": None if isinstance(outcome, Ok) else detail,
        }

    async def _process(self, claimed: queue.Claimed) -> int:
        with self._leases.holding(claimed):
            return await self._process_held(claimed)

    async def _process_held(self, claimed: queue.Claimed) -> int:
        destination = self.resolver(claimed.key)
        if isinstance(destination, Unresolved):
            # Claimed just as an ad-hoc destination was forgotten: leave it to its owner.
            await self._commit.release(
                queue.Release(claimed.key, claimed.recent, circuit=claimed.circuit)
            )
            return 0
        rows = await self.run_db(queue.pending, self.store, claimed.key, self.settings.per_claim)
        limits = self.limits(claimed.channel)
        recent = claimed.recent
        circuit = claimed.circuit
        coalescing = coalesce.coalesces(limits, claimed.channel, self.settings.coalesce_after)
        if coalescing:  # a backlog too long for the robot's rate becomes digests (issue #18)
            decided = await coalesce.step(self, claimed, rows, recent, limits)
            if decided.hold_until is not None:
                await self._commit.release(
                    queue.Release(claimed.key, recent, decided.hold_until, circuit)
                )
                return 0
            rows = decided.rows
        not_before: float | None = None
        unrecorded: asyncio.Future[None] | None = None
        sent = 0
        for row in rows:
            now = self.clock.now()
            if row.next_attempt_at > now:
                break  # the head is waiting to be retried: later ones wait too (order)
            if row.expires_at <= now:
                self._conclude(row, "dead", Fail("expired before it could be sent"), now)
                continue
            if now > claimed.lease_until - self.settings.timeout - 1.0:
                break  # the lease ends soon: let the next claim continue in order
            alone = row is rows[-1]
            wait = coalesce.wait_time(row, recent, limits, now, coalescing, alone)
            if wait > 0:
                if wait > 1.0 or now + wait > claimed.lease_until - self.settings.timeout:
                    not_before = now + wait  # free the worker; the destination is due then
                    if coalescing:  # but look again sooner: its backlog may grow meanwhile
                        not_before = coalesce.look_again(row, recent, limits, now, not_before)
                    break
                await self.clock.sleep(wait)
            # At most one result unrecorded while the next send is in flight: a crash then
            # repeats no more than two deliveries of this destination.
            if unrecorded is not None:
                await unrecorded
            answered_at, answered, retry_at, unrecorded, outcome = await self._send(
                row, destination, claimed
            )
            after = self._circuit_after(circuit, outcome, answered_at, destination)
            if after is not circuit:  # a pause or a resumption is logged
                breaker.report(circuit, after, claimed.key, claimed.channel, row.address)
            circuit = after
            sent += 1
            if answered:  # the platform saw it: it counts against its rate limit
                # Counted from when the answer came, not from when the request left: the
                # platform counted it in between, so however long the network took, the
                # next window starts no sooner for us than for the platform.
                recent = pacing.remember(recent, limits, answered_at)
            if circuit.paused_until is not None and circuit.paused_until > answered_at:
                break  # paused: the rest waits for the pause to end
            if retry_at is not None:
                break
        await self._commit.release(queue.Release(claimed.key, recent, not_before, circuit))
        return sent

    def _circuit_after(
        self, circuit: Circuit, outcome: Outcome, now: float, destination: Destination
    ) -> Circuit:
        """The destination's breaker after an attempt (delivery.breaker)."""
        return breaker.after(
            circuit,
            outcome,
            now,
            failures=self.settings.breaker_failures,
            pause=self.settings.breaker_pause,
            max_pause=self.settings.breaker_max_pause,
            reason=self._redactor(destination),
        )

    def _conclude(self, row: Pending, status: str, outcome: Outcome, now: float) -> None:
        """End a delivery without sending it (expired, or its destination is gone)."""
        self._commit.update(self._finish(row, status, outcome, row.attempts, now))
        self._report(row, status, outcome, row.attempts)

    async def _talk(
        self, request: Request, destination: Destination, row: Pending, sent_at: float
    ) -> tuple[Outcome, int | None]:
        """Send one request and read the platform's answer: (outcome, HTTP status or None)."""
        channel = channels.get(request.channel)
        if channel.deliver is not None:
            # Channels with their own protocol or I/O steps (tokens, id lookups, SMTP).
            io = self._io.for_destination(destination)  # its ctl's proxy and tls_verify
            return await channel.deliver(request, destination, row.id, io)
        assert channel.interpret is not None, channel.webhook_type
        call = prepare(request, destination, row.id, sent_at)
        try:
            # Never past the delivery's own deadline (`send --deadline` bounds the command).
            timeout = min(self.settings.timeout, max(row.expires_at - sent_at, 0.1))
            response = await self._transport.send(call, timeout=timeout)
        except TransportError as exc:
            return exc.outcome(), None  # retried, or failed at once (untrusted certificate)
        if len(response.body) > INTERPRET_INLINE:  # large JSON: off the shared loop
            return await asyncio.to_thread(channel.interpret, response), response.status
        return channel.interpret(response), response.status

    async def _send(
        self, row: Pending, destination: Destination, claimed: queue.Claimed
    ) -> tuple[float, bool, float | None, asyncio.Future[None], Outcome]:
        """One attempt: (answered at, whether the platform answered, retry time if to retry,
        a future set when its result is written, its outcome)."""
        request = request_from_json(row.request)
        sent_at = self.clock.now()
        started = time.perf_counter()
        outcome, http_status = await self._within_lease(request, destination, row, claimed, sent_at)
        answered = http_status is not None
        elapsed = time.perf_counter() - started
        now = self.clock.now()
        attempts = row.attempts + 1
        retry_at: float | None = None
        status = "sent" if isinstance(outcome, Ok) else "failed"
        final_outcome = outcome
        if isinstance(outcome, Retry):
            delay = self.settings.backoff.delay(attempts, outcome.after)
            if attempts >= self.settings.max_attempts:
                status = "dead"
                final_outcome = Fail(
                    f"gave up after {attempts} attempts: {outcome.reason}", outcome.code
                )
            elif now + delay > row.expires_at:
                status = "dead"
                asked = (
                    f" (the platform asked to wait {outcome.after:g} s)" if outcome.after else ""
                )
                final_outcome = Fail(
                    f"gave up after {attempts} attempt{'s' * (attempts > 1)} within the deadline: "
                    f"{outcome.reason}{asked}",
                    outcome.code,
                )
            else:
                status = "pending"
                retry_at = now + delay
        redact = self._redactor(destination)
        update = self._finish(row, status, final_outcome, attempts, now, redact)
        if retry_at is not None:
            update["next_attempt_at"] = retry_at
        attempt: queue.AttemptRow = {
            "delivery_id": row.id,
            "at": sent_at,
            "duration_ms": round(elapsed * 1000, 3),
            "outcome": _outcome_name(outcome),
            "http_status": http_status,
            "code": None if outcome.code is None else str(outcome.code),
            "detail": redact(_detail(outcome)),
            "worker": self.name,
        }
        recorded = self._commit.attempt(update, attempt)
        if self.metrics is not None:
            self.metrics.attempt(request.channel, attempt["outcome"], elapsed)
        if status in queue.FINAL:
            self._report(row, status, final_outcome, attempts, redact=redact)
        elif retry_at is not None and self.on_retry is not None:
            reason = redact(_detail(outcome))
            self.on_retry(Retrying(row.id, row.channel, row.address, attempts, retry_at, reason))
        return now, answered, retry_at, recorded, outcome

    def _redactor(self, destination: Destination) -> Callable[[str], str]:
        """What masks the details of a send to `destination`: the configuration's secrets and
        the destination's own (an ad-hoc one's are known to this send only)."""
        own = own_secrets(destination.url, destination.secret, destination.token)
        return compose(self.redact, own)

    def coalesced(self, merged: list[Pending], made: digests.Coalescing) -> None:
        """The backlog `merged` was recorded as the digests of `made`: each merged delivery
        ends `coalesced`; whoever waited for one now waits for its digest."""
        if self.metrics is not None:
            count = sum(1 for row in made.digests if row["label"] == "digest")
            self.metrics.coalesced(merged[0].channel, count, len(merged))
        for row in merged:
            digest_id = made.merged[row.id]
            if row.id in self._watched:
                self._watched.add(digest_id)
            detail = Ok(coalesce.merged_detail(digest_id))
            self._report(row, "coalesced", detail, row.attempts, digest_id)

    def _report(
        self,
        row: Pending | Swept,
        status: str,
        outcome: Outcome,
        attempts: int,
        digest_id: str = "",
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self._watched.discard(row.id)
        if self.metrics is not None:
            self.metrics.final(row.channel, status)
            if status == "sent" and getattr(row, "lane", 1) == 0 and row.label == "digest":
                self.metrics.digest_sent(row.channel)
        if self.on_final is not None:
            self.on_final(
                Final(
                    id=row.id,
                    channel=row.channel,
                    destination=row.destination,
                    address=row.address,
                    label=row.label,
                    status=status,
                    code=outcome.code,
                    detail=(redact or self.redact)(_detail(outcome)),
                    attempts=attempts,
                    source=row.source,
                    digest_id=digest_id,
                )
            )

    # --- loops ------------------------------------------------------------------------------

    async def _claim(self, limit: int) -> list[queue.Claimed]:
        now = self.clock.now()
        if now - self._swept_at >= self.settings.sweep_every:
            await self.sweep()
        return await self.run_db(
            queue.claim,
            self.store,
            self.name,
            now,
            self.settings.lease,
            limit,
            self.resolver.addresses_json(),
            orjson.dumps(list(self._leases.held)).decode(),
            # Alone, all that is due (up to `limit`); beside other live workers, a share.
            (now - self.settings.lease, self.settings.claim_batch),
        )

    async def step(self) -> int:
        """Claim what is due and send it; the number of destinations worked on."""
        claimed = await self._claim(self.settings.concurrency)
        if claimed:
            await asyncio.gather(*(self._process(c) for c in claimed))
            await self._commit.flush()
        return len(claimed)

    def wake(self) -> None:
        """New work was enqueued in this process: claim now rather than after the poll wait."""
        self._wake.set()

    async def _idle(self) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.settings.poll)

    async def _pump(self, finished: Callable[[bool], Any]) -> None:
        """Keep up to `concurrency` destinations in work, claiming more as each one ends.

        `finished(idle)` is awaited after every change and says when to stop; `idle`: this
        worker has nothing in flight and found nothing to claim.
        """
        running: set[asyncio.Task[int]] = set()
        woken: asyncio.Task[Any] | None = None
        try:
            while True:
                free = self.settings.concurrency - len(running)
                claimed = await self._claim(free) if free > 0 else []
                running |= {asyncio.create_task(self._process(c)) for c in claimed}
                if running:
                    # Claim again when a destination is done, when work is enqueued in this
                    # process (wake), or after a poll: between two claims, other workers get
                    # their turn at what is due.
                    if woken is None or woken.done():
                        self._wake.clear()
                        woken = asyncio.create_task(self._wake.wait())
                    done, _ = await asyncio.wait(
                        {*running, woken},
                        timeout=self.settings.poll,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    running -= done
                    for task in done - {woken}:
                        task.result()  # surface errors
                else:
                    await self._idle()
                if await finished(not running and not claimed):
                    break
        finally:
            if woken is not None:
                woken.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            await self._commit.flush()

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; finish and record what is in flight, then return."""

        async def finished(_idle: bool) -> bool:
            return stop.is_set()

        await self._pump(finished)

    async def run_until(self, ids: list[str], deadline: float) -> dict[str, str]:
        """Work until these deliveries are final or the (clock) deadline passes."""
        # _report removes what this worker finishes; what is final already (sent by another
        # worker, or before this call) is known from the database from the start.
        found = await self.run_db(queue.statuses, self.store, list(ids))
        self._watched = {i for i in ids if found.get(i) not in queue.FINAL}
        checked = time.monotonic()

        async def finished(idle: bool) -> bool:
            nonlocal checked
            if self._watched and idle and time.monotonic() - checked > 1.0:
                # Nothing for this worker to do, yet some are not final: another worker may
                # have them. Asked only when idle: while this worker sends, the answer could
                # not end the wait, and asking about many ids is not free.
                found = await self.run_db(queue.statuses, self.store, list(self._watched))
                self._watched -= {i for i, s in found.items() if s in queue.FINAL}
                checked = time.monotonic()
            return not self._watched or self.clock.now() > deadline

        await self._pump(finished)
        return await self.run_db(queue.statuses, self.store, ids)
