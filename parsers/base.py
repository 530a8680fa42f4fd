"""Declarative parser machinery: attribute methods, layout versions, version choice.

A parser version is a class whose public methods decorated with `@attribute` each return one
record field. The per-page work (tree, meta, JSON-LD) lives in `Page` and is shared by all of them;
an attribute's result is cached per instance, so one attribute may use another at no extra cost.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any, ClassVar, TypeVar

from parsers.page import Page

T = TypeVar("T")
_ATTRIBUTE_FLAG = "__record_attribute__"


def attribute(method: Callable[[Any], T]) -> Callable[[Any], T]:
    """Mark a method as the source of the record field of the same name; cache its value per page."""
    name = method.__name__

    @wraps(method)
    def cached(self: BaseParser) -> T:
        if name not in self.values:
            self.values[name] = method(self)
        return self.values[name]

    setattr(cached, _ATTRIBUTE_FLAG, True)
    return cached


class BaseParser:
    """One layout of one publisher. Subclasses set the selectors and the dates the layout was live."""

    NAME: ClassVar[str] = "base"  # the parser family, usually the source's name
    VERSION: ClassVar[str] = ""  # this layout's version; records say f"{NAME}@{VERSION}"
    VALID_FROM: ClassVar[date | None] = None  # first day pages in this layout were seen
    VALID_UNTIL: ClassVar[date | None] = None  # last day; None = still current
    MARKERS: ClassVar[tuple[str, ...]] = ()  # selectors only this layout's article pages have
    attribute_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.attribute_names = tuple(
            name
            for name in dir(cls)
            if not name.startswith("_") and getattr(getattr(cls, name), _ATTRIBUTE_FLAG, False)
        )

    def __init__(self, page: Page) -> None:
        self.page = page
        self.values: dict[str, Any] = {}

    @classmethod
    def parser_id(cls) -> str:
        return f"{cls.NAME}@{cls.VERSION}"

    @classmethod
    def validity(cls) -> str:
        """'2023-01-01 … 2025-12-31', '2026-01-01 … now'."""
        start = cls.VALID_FROM.isoformat() if cls.VALID_FROM else "?"
        return f"{start} … {cls.VALID_UNTIL.isoformat() if cls.VALID_UNTIL else 'now'}"

    def has_article_signal(self) -> bool:
        """Whether something on the page says it is an article (error pages are not)."""
        return True

    def body_is_complete(self) -> bool:
        """False when a cut-off page ends inside the article body."""
        return True

    @classmethod
    def matches(cls, page: Page) -> bool:
        """Whether the page carries this layout's markers."""
        return any(page.tree.css_first(selector) is not None for selector in cls.MARKERS)

    def extract(self) -> dict[str, Any]:
        """Every attribute's value by name."""
        return {name: getattr(self, name)() for name in self.attribute_names}


def choose_version(versions: tuple[type[BaseParser], ...], page: Page) -> type[BaseParser]:
    """The first version (newest first) whose markers the page carries; the newest otherwise.

    Markers, not dates, decide: a page's date is read by the parser, and sites re-render old
    articles in new layouts. The validity dates document when each layout was seen."""
    return next((version for version in versions if version.matches(page)), versions[0])
