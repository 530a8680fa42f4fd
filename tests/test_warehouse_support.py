"""Builders shared by the warehouse tests (records, visits, a fresh warehouse). Holds no tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from parsers.record import ArticleRecord, Block
from warehouse.db import open_writer
from warehouse.integrity import integrity_violations
from warehouse.visit import FetchStatus, VisitInput

T0 = datetime(2025, 11, 12, 15, 0, tzinfo=UTC)
SOURCE = "kazinform"
ARTICLE_ID = "7da5a18f"
URL = f"https://www.inform.kz/ru/gosvizit-tokaeva-v-moskvu-{ARTICLE_ID}"


def make_record(article_id: str = ARTICLE_ID, **changes: Any) -> ArticleRecord:
    """A realistic record; keyword arguments replace fields (the content hash is recomputed)."""
    body = changes.pop("body", "Первый абзац о визите.\n\nВторой абзац о договорённостях.")
    record = ArticleRecord(
        source=SOURCE,
        article_id=article_id,
        url=URL if article_id == ARTICLE_ID else f"https://www.inform.kz/ru/material-{article_id}",
        language="ru",
        title="Госвизит Токаева в Москву",
        lead="О чем договорились Президенты.",
        body=body,
        blocks=[Block("paragraph", p) for p in body.split("\n\n")],
        published_at=datetime(2025, 11, 12, 14, 9, tzinfo=UTC),
        published_text="19:09, 12 Ноябрь 2025 | GMT +5",
        updated_at=None,
        authors=["Наталья Мосунова"],
        tags=["Токаев", "Россия"],
        category="Политика",
        image_url="https://static.inform.kz/photo.jpg",
        image_caption="Tokayev and Putin",
        image_credit="Photo credit: Akorda",
        parser="kazinform-text@1",
    )
    return replace(record, content_hash="", **changes) if changes else record


def parsed(record: ArticleRecord, at: datetime = T0, raw: bytes | None = None, **extra: Any) -> VisitInput:
    raw = raw if raw is not None else f"{record.title}\n\n{record.body}".encode()
    locator = extra.pop("locator", record.url or f"seeds/{record.article_id}.txt")
    return VisitInput(
        source=record.source,
        locator=locator,
        visited_at=at,
        status="parsed",
        record=record,
        article_id=record.article_id,
        raw=raw,
        **extra,
    )


def bare(
    status: FetchStatus, at: datetime = T0, article_id: str | None = ARTICLE_ID, **extra: Any
) -> VisitInput:
    """A visit without a record: not_modified, gone, failed, parse_error or listed."""
    return VisitInput(
        source=SOURCE,
        locator=extra.pop("locator", URL),
        visited_at=at,
        status=status,
        article_id=article_id,
        **extra,
    )


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@contextmanager
def writer(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A write connection on a fresh warehouse file in the test's own directory; when the test's
    block ends normally, every integrity rule of warehouse.integrity must hold."""
    with open_writer(tmp_path / "warehouse.duckdb") as connection:
        yield connection
        assert integrity_violations(connection) == {}


def rows(conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    return conn.execute(sql, params or []).fetchall()
