"""A crawl's plan handed from the machine that reads the warehouse to a worker that cannot: the known
and deleted ids, validators, revisits and tags (flows.pages.CrawlPlan) as a JSON file in the package
store (`plans/<run>/<source>.json`). No Prefect and no DuckDB here."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

from flows.pages import CrawlPlan
from warehouse.packages import PackageStore

PLAN_FORMAT_VERSION = 1
PLANS_FOLDER = "plans"


def plan_to_json(plan: CrawlPlan, source: str, run_id: str) -> str:
    return json.dumps(
        {
            "format_version": PLAN_FORMAT_VERSION,
            "source": source,
            "run_id": run_id,
            "planned_at": datetime.now(UTC).isoformat(),
            "known_ids": sorted(plan.known_ids),
            "deleted_ids": sorted(plan.deleted_ids),
            "revisit": [list(pair) for pair in plan.revisit],
            "validators": {url: list(pair) for url, pair in plan.validators.items()},
            "tags": sorted(plan.tags),
        }
    )


class PlanError(Exception):
    """A plan file that cannot be read: missing, of another format, or not this source's."""


def plan_from_json(text: str, source: str) -> CrawlPlan:
    try:
        data = json.loads(text)
        if data.get("format_version") != PLAN_FORMAT_VERSION:
            raise PlanError(
                f"plan format {data.get('format_version')!r}, this release reads {PLAN_FORMAT_VERSION}"
            )
        if data.get("source") != source:
            raise PlanError(f"the plan is for {data.get('source')!r}, not {source!r}")
        return CrawlPlan(
            known_ids=set(data["known_ids"]),
            deleted_ids=set(data["deleted_ids"]),
            revisit=[(article_id, url) for article_id, url in data["revisit"]],
            validators={url: (etag, modified) for url, (etag, modified) in data["validators"].items()},
            tags=frozenset(data["tags"]),
        )
    except PlanError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise PlanError(f"unreadable plan ({type(error).__name__}: {error})") from error


def package_store(warehouse_path: str, packages_url: str | None = None) -> PackageStore:
    """The store given (a folder or fsspec URL), else the warehouse's (warehouse.packages)."""
    return PackageStore(packages_url) if packages_url else PackageStore.for_warehouse(warehouse_path)


def write_plan(store: PackageStore, run_id: str, name: str, plan: CrawlPlan) -> str:
    """The plan as `plans/<run>/<name>.json` in the store; returns its URL."""
    return store.write_file(f"{PLANS_FOLDER}/{run_id}/{name}.json", plan_to_json(plan, name, run_id).encode())


def read_plan(plan_url: str, source: str) -> CrawlPlan:
    import fsspec

    try:
        with fsspec.open(plan_url, "rb") as handle:
            text = handle.read().decode()
    except (OSError, ValueError) as error:
        raise PlanError(f"cannot read the plan {plan_url} ({type(error).__name__}: {error})") from error
    return plan_from_json(text, source)


def remove_plans(store: PackageStore, run_id: str) -> None:
    with contextlib.suppress(OSError):  # housekeeping only
        store.fs.rm(f"{store.root}/{PLANS_FOLDER}/{run_id}", recursive=True)
