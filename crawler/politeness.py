"""Per-host politeness: request spacing, concurrency, server-asked pauses, and address safety."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass(slots=True)
class _HostState:
    semaphore: asyncio.Semaphore
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_start: float = 0.0  # monotonic time before which no request may start
    min_interval: float = 0.0  # seconds between request starts


class SlotGivenUp(Exception):
    """A turn at a host not taken: the caller's `give_up` said so."""


class HostLimiter:
    """At most `concurrency` requests in flight per host, starts spaced by 1/requests_per_second.

    requests_per_second=0 lifts the spacing (benchmarks against a local replica). A host's
    robots.txt Crawl-delay or a server's Retry-After only ever make the spacing longer.
    """

    def __init__(self, requests_per_second: float, concurrency: int) -> None:
        if requests_per_second < 0 or concurrency < 1:
            raise ValueError("requests_per_second must be >= 0 and concurrency >= 1")
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._concurrency = concurrency
        self._hosts: dict[str, _HostState] = {}

    def _state(self, host: str) -> _HostState:
        state = self._hosts.get(host)
        if state is None:
            state = _HostState(asyncio.Semaphore(self._concurrency), min_interval=self._interval)
            self._hosts[host] = state
        return state

    def set_min_interval(self, host: str, seconds: float) -> None:
        state = self._state(host)
        state.min_interval = max(state.min_interval, seconds)

    def pause(self, host: str, seconds: float) -> None:
        """No new request to `host` for `seconds` (the server asked with Retry-After)."""
        state = self._state(host)
        state.next_start = max(state.next_start, time.monotonic() + seconds)

    @asynccontextmanager
    async def slot(self, host: str, give_up: Callable[[], bool] | None = None) -> AsyncIterator[None]:
        """A turn at `host`. `give_up` (the run's limit, or a stop asked for) is asked when the turn
        comes and again when its start time comes: if true, SlotGivenUp, and no request starts (a
        queue of waiting requests drains at once instead of one interval at a time)."""
        state = self._state(host)
        async with state.semaphore:
            if give_up is not None and give_up():
                raise SlotGivenUp
            async with state.lock:
                # Reserve a start time under the lock, wait for it outside the bookkeeping.
                start = max(time.monotonic(), state.next_start)
                state.next_start = start + state.min_interval
            delay = start - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if give_up is not None and give_up():
                raise SlotGivenUp
            yield


class AddressGuard:
    """Refuses hosts that resolve to private, loopback or link-local addresses.

    Only `trusted_hosts` (the configured base of a mirror or the replica) are exempt. Results
    are cached per host so a crawl resolves each host once.
    """

    def __init__(self, trusted_hosts: frozenset[str] = frozenset(), resolve_timeout: float = 10.0) -> None:
        self._trusted = {h.lower() for h in trusted_hosts}
        self._verdicts: dict[str, str | None] = {}
        # A resolver that never answers must not hold a URL longer than a connect would.
        self._resolve_timeout = resolve_timeout

    async def refusal(self, host: str) -> str | None:
        """None when `host` may be fetched, else the reason it may not."""
        host = host.lower()
        if host in self._trusted:
            return None
        if host not in self._verdicts:
            self._verdicts[host] = await self._check(host)
        return self._verdicts[host]

    async def _check(self, host: str) -> str | None:
        try:
            addresses = [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            try:
                async with asyncio.timeout(self._resolve_timeout):
                    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
            except TimeoutError:
                return f"cannot resolve {host}: no answer within {self._resolve_timeout:g} s"
            except OSError as exc:
                return f"cannot resolve {host}: {exc}"
            addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        for address in addresses:
            if not address.is_global:
                return f"{host} resolves to a non-public address ({address})"
        return None
