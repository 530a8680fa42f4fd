"""Per-host politeness across workers: a Prefect global concurrency limit `host:<host>` of one slot
per host, created on demand, held by a stage run (and the backfill walk) for all of its source's
hosts at once, so two workers never crawl one host together."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager

from parsers.registry import registered

Logger = logging.Logger | logging.LoggerAdapter

HOST_LIMIT_PREFIX = "host:"
HOST_SLOTS = 1  # one crawl of a host at a time, whichever worker runs it
# A host slot's lease: Prefect renews it while the run lives; a killed worker's slot is freed by
# the server's repossessor once the lease runs out. 60 s is the least the server accepts.
HOST_LEASE_SECONDS = 60.0
# How long a stage run waits for its hosts' slots: a backfill queues many runs of one host, each
# running up to its time limit; past this the run fails, saying which host it waited for.
HOST_SLOT_WAIT_S = 6 * 3600.0


def host_limit_names(source_name: str, editions: Collection[str] | None = None) -> list[str]:
    """`host:<host>` for each host of the source (or of the part of these editions,
    Source.part_hosts) as its definition names it: on a mirror (a replica) the pages sit at one
    address, but the politeness is owed to the hosts the source stands for."""
    source = registered()[source_name.lower()]
    hosts = source.part_hosts(editions) if editions else source.hosts
    return sorted(f"{HOST_LIMIT_PREFIX}{host}" for host in hosts)


async def ensure_host_limits(names: Sequence[str], logger: Logger) -> None:
    """Create each limit with 1 slot when the API has none. One an administrator changed is left."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    async with get_client() as client:
        for name in names:
            try:
                limit = await client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                try:
                    await client.create_global_concurrency_limit(
                        GlobalConcurrencyLimitCreate(name=name, limit=HOST_SLOTS)
                    )
                    logger.info("created the Prefect concurrency limit %s (%d slot)", name, HOST_SLOTS)
                except ObjectAlreadyExists:  # another run created it first
                    pass
                continue
            if limit.limit != HOST_SLOTS or not limit.active:
                logger.warning(
                    "the concurrency limit %s has %d slots (active: %s): runs of that host may overlap",
                    name,
                    limit.limit,
                    limit.active,
                )


@asynccontextmanager
async def holding_hosts(
    names: Sequence[str], logger: Logger, wait_s: float = HOST_SLOT_WAIT_S
) -> AsyncIterator[float]:
    """Hold one slot of every limit in `names` (all at once, so two runs never deadlock on two
    hosts); yields the seconds waited for them."""
    from prefect.concurrency.asyncio import concurrency

    await ensure_host_limits(names, logger)
    started = time.monotonic()
    logger.info("waiting for %s", ", ".join(names))
    async with concurrency(
        list(names), occupy=1, timeout_seconds=wait_s, lease_duration=HOST_LEASE_SECONDS, strict=True
    ):
        waited = time.monotonic() - started
        logger.info("holding %s (waited %.1f s)", ", ".join(names), waited)
        try:
            yield waited
        finally:
            logger.info("releasing %s", ", ".join(names))
