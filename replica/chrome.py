"""Page chrome that brings replica article pages to the size of real ones (100–300 KB).

A real Kazinform article page is a few KB of article inside 100–300 KB of everything else: a head
of stylesheets, preloads, inline CSS and a JSON state script, a mega-menu of every section, a
"related news" block of hundreds of cards with images, and a link-heavy footer with counters.
`PageChrome` builds a small pool of such wrappings once per seed and dresses each article page
with one of them, chosen by the article's id, so that serving 2,000 pages costs a join of shared
byte strings per request, not 2,000 renders (or 400 MB of cached pages).

The chrome carries nothing the article parser reads: no <article>, <time> or `.article*` elements,
no og:/article:/author/description meta tags, no JSON-LD, no canonical link; and it sits outside
the article's root element, where real chrome is. A page parses to the same record dressed or not.
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass
from html import escape

# Whole-page sizes are drawn from this range, as measured on real article pages.
PAGE_BYTES_RANGE = (100_000, 300_000)
# Wrappings per site: enough that pages differ in size and bytes, few enough to stay a few MB.
CHROME_VARIANTS = 16
# Room kept for the article itself (replica articles are 2–6 KB) and for the last related-news card
# (under 1 KB), so that wrapping + article stays inside PAGE_BYTES_RANGE.
ARTICLE_BYTES_ALLOWANCE = 6_000
CARD_BYTES_ALLOWANCE = 1_000

# Section names and headline words of the page chrome (benchmarks/parse.py builds its pages from them too).
SECTIONS = (
    "Политика",
    "Экономика",
    "Общество",
    "Происшествия",
    "Регионы",
    "Мир",
    "Спорт",
    "Культура",
    "Наука",
    "Технологии",
    "Здоровье",
    "Образование",
    "Аналитика",
    "Интервью",
    "Фото",
    "Видео",
)
WORDS = (
    "Казахстан",
    "Астана",
    "Алматы",
    "президент",
    "министр",
    "правительство",
    "развитие",
    "проект",
    "регион",
    "область",
    "экономика",
    "инвестиции",
    "сотрудничество",
    "встреча",
    "заседание",
    "рост",
    "программа",
    "безопасность",
)
_MONTHS = ("Января", "Февраля", "Марта", "Апреля", "Мая", "Июня", "Июля", "Августа", "Сентября")

# Where the wrapping goes in a rendered article page (both markup generations have all three).
HEAD_ANCHOR = b'<meta charset="utf-8">\n'
BODY_ANCHOR = b"<body>\n"
END_ANCHOR = b"</body>"


@dataclass(frozen=True, slots=True)
class Wrapping:
    head: bytes  # after <meta charset>: styles, preloads, state and analytics scripts
    top: bytes  # first in <body>: top bar and mega-menu
    bottom: bytes  # last in <body>: related news, footer, counters


class PageChrome:
    """A pool of wrappings, deterministic for a seed; `dress` splices one into a rendered page."""

    def __init__(self, seed: int, variants: int = CHROME_VARIANTS) -> None:
        rng = random.Random(f"replica-chrome-{seed}")
        self.wrappings = [_wrapping(rng) for _ in range(variants)]

    def wrapping_for(self, article_id: str) -> Wrapping:
        return self.wrappings[zlib.crc32(article_id.encode()) % len(self.wrappings)]

    def dress(self, page: bytes, article_id: str) -> tuple[bytes, ...]:
        """The page's bytes in parts that join into the dressed page (the wrapping's parts are
        shared between pages, not copied)."""
        wrapping = self.wrapping_for(article_id)
        head_at = page.index(HEAD_ANCHOR) + len(HEAD_ANCHOR)
        body_at = page.index(BODY_ANCHOR, head_at) + len(BODY_ANCHOR)
        end_at = page.rindex(END_ANCHOR)
        return (
            page[:head_at],
            wrapping.head,
            page[head_at:body_at],
            wrapping.top,
            page[body_at:end_at],
            wrapping.bottom,
            page[end_at:],
        )


def _wrapping(rng: random.Random) -> Wrapping:
    smallest, largest = PAGE_BYTES_RANGE
    target = rng.randint(smallest, largest - ARTICLE_BYTES_ALLOWANCE - CARD_BYTES_ALLOWANCE)
    head = _head_links(rng) + _style(rng, rng.randint(60, 160)) + _state_script(rng, rng.randint(30, 90))
    head += _analytics()
    top = _top_bar(rng) + _mega_menu(rng)
    footer = _footer(rng)
    cards: list[str] = []
    size = len(head.encode()) + len(top.encode()) + len(footer.encode())
    while size < target:
        card = _card(rng, len(cards))
        cards.append(card)
        size += len(card.encode()) + 1
    related = (
        '<section class="related-news"><h2 class="related-news__heading">Читайте также</h2>\n'
        + "\n".join(cards)
        + "\n</section>\n"
    )
    return Wrapping(head.encode(), top.encode(), (related + footer).encode())


def _headline(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12))).capitalize()


def _head_links(rng: random.Random) -> str:
    build = f"{rng.getrandbits(64):016x}"
    links = [
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="theme-color" content="#0b3c7a">',
        '<link rel="icon" href="/favicon.ico">',
        '<link rel="manifest" href="/site.webmanifest">',
        '<link rel="preconnect" href="https://static.inform.kz">',
    ]
    for index in range(rng.randint(6, 14)):
        links.append(f'<link rel="preload" as="script" href="/_next/static/chunks/{build}-{index}.js">')
    for index in range(rng.randint(2, 4)):
        links.append(f'<link rel="stylesheet" href="/_next/static/css/{build}-{index}.css">')
    return "\n".join(links) + "\n"


def _style(rng: random.Random, rules: int) -> str:
    lines = []
    for index in range(rules):
        block = rng.choice(("card", "menu", "footer", "banner", "grid", "widget"))
        lines.append(
            f".{block}-{index}{{display:flex;margin:{rng.randint(0, 24)}px {rng.randint(0, 24)}px;"
            f"padding:{rng.randint(0, 16)}px;color:#{rng.getrandbits(24):06x};"
            f"font:{rng.randint(12, 22)}px/1.4 Inter,Arial,sans-serif}}"
        )
    return "<style>" + "".join(lines) + "</style>\n"


def _state_script(rng: random.Random, items: int) -> str:
    state = {
        "props": {
            "feed": [
                {
                    "id": f"{rng.getrandbits(32):08x}",
                    "title": _headline(rng),
                    "views": rng.randint(0, 10**5),
                    "rubric": rng.choice(SECTIONS),
                    "labels": rng.sample(WORDS, 3),
                }
                for _ in range(items)
            ]
        },
        "buildId": f"{rng.getrandbits(48):012x}",
    }
    return (
        '<script id="__NEXT_DATA__" type="application/json">'
        + json.dumps(state, ensure_ascii=False)
        + "</script>\n"
    )


def _analytics() -> str:
    return (
        "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
        "gtag('js',new Date());gtag('config','G-KAZINFORM');</script>\n"
        '<script async src="https://mc.yandex.ru/metrika/tag.js"></script>\n'
    )


def _top_bar(rng: random.Random) -> str:
    rates = "".join(
        f'<span class="rates__item">{code} {rng.randint(400, 600)}.{rng.randint(0, 99):02d}</span>'
        for code in ("USD", "EUR", "RUB", "CNY")
    )
    return (
        f'<div class="topbar"><div class="rates">{rates}</div>'
        '<div class="editions"><a href="/kz/">ҚАЗ</a> <a href="/ru/">РУС</a> <a href="/en/">ENG</a></div>'
        '<form class="search" action="/search"><input name="q" placeholder="Поиск"></form></div>\n'
    )


def _mega_menu(rng: random.Random) -> str:
    columns = []
    for number, section in enumerate(SECTIONS):
        links = "".join(
            f'<li class="mega-menu__item"><a class="mega-menu__link" href="/ru/rubric-{number}/{index}">'
            f"{escape(_headline(rng)[:40])}</a></li>"
            for index in range(rng.randint(10, 20))
        )
        columns.append(
            f'<div class="mega-menu__col"><a class="mega-menu__heading" href="/ru/rubric-{number}">'
            f"{section}</a><ul>{links}</ul></div>"
        )
    return f'<nav class="mega-menu" hidden>{"".join(columns)}</nav>\n'


def _card(rng: random.Random, index: int) -> str:
    slug_id = f"{rng.getrandbits(32):08x}"
    title = escape(_headline(rng))
    return (
        f'<div class="news-card-small"><a class="news-card-small__link" href="/ru/related-{index}-{slug_id}">'
        f'<img class="news-card-small__img" src="https://static.inform.kz/thumbs/{slug_id}.webp" '
        f'alt="{title}" width="320" height="180" loading="lazy">'
        f'<span class="news-card-small__title">{title}</span></a>'
        f'<span class="news-card-small__when">{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}, '
        f"{rng.randint(1, 28)} {rng.choice(_MONTHS)} 2025</span>"
        f'<span class="news-card-small__views">{rng.randint(10, 99_999)}</span></div>'
    )


def _footer(rng: random.Random) -> str:
    sitemap = "".join(
        f'<a class="site-footer__link" href="/ru/page/{index}">{escape(_headline(rng)[:30])}</a>'
        for index in range(rng.randint(120, 200))
    )
    social = "".join(
        f'<a class="social__{name}" href="https://{name}.com/kazinform" rel="noopener">{name}</a>'
        for name in ("telegram", "instagram", "facebook", "youtube", "tiktok", "x")
    )
    return (
        f'<footer class="site-footer"><div class="site-footer__map">{sitemap}</div>'
        f'<div class="social">{social}</div>'
        "<p>© МИА «Казинформ». При использовании материалов ссылка обязательна.</p></footer>\n"
        '<noscript><div><img src="https://mc.yandex.ru/watch/00000000" alt=""></div></noscript>\n'
    )
