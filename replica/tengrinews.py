"""A Tengrinews replica: three editions under their hosts' prefixes (`/tengrinews.kz/…` ru,
`/kaz.tengrinews.kz/…` kz, `/en.tengrinews.kz/…` en), each with its own id sequence.

Per edition: feeds `news.rss` and `rss`, listing `/news/` and `/news/page/{n}/` (20 cards, 404 past
the last page), articles `/{section}/{slug}-{id}/`. An article answers 301 from its address
without the final slash, under another section, or under a former slug; 404/410 once deleted.

Pages follow SITE.md and what parsers/publishers/tengrinews.py reads: JSON-LD NewsArticle (inside
@graph on odd ids), og:/description meta, `h1.head-single`, the visible `div.date-time` in the
three shapes the site drifted between, `picture.content_main_thumb_img`, `div.content_main_text`
paragraphs ending in promo lines, and the tag block `div.content_main_text_tags` inside the body
container on even ids and right after it on odd ones. Listing cards: `div.content_main_item`.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from html import escape

from replica.catalogue import slugify
from replica.feedsite import MountedSite, SiteArticle, article_text, rss, rss_item
from replica.render import EN_MONTHS, KK_MONTHS, RU_GENITIVE, astana_offset_hours
from replica.site import Response, _conditional, _not_found

TENGRINEWS_NEWEST_AT = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
CARDS_PER_PAGE = 20
# Edition code → (path prefix, language of the catalogue's words, html lang, newest id).
EDITIONS = {
    "ru": ("/tengrinews.kz", "ru", "ru", 587_000),
    "kz": ("/kaz.tengrinews.kz", "kz", "kk", 364_700),
    "en": ("/en.tengrinews.kz", "en", "en", 27_400),
}
_EDITION_OF_PREFIX = {prefix: code for code, (prefix, *_rest) in EDITIONS.items()}
# Section address → its name in each edition.
SECTIONS = {
    "kazakhstan_news": {"ru": "Казахстан", "kz": "Қазақстан жаңалықтары", "en": "Kazakhstan"},
    "world_news": {"ru": "Мир", "kz": "Әлем жаңалықтары", "en": "World"},
    "economic": {"ru": "Экономика", "kz": "Экономика", "en": "Business"},
    "sport": {"ru": "Спорт", "kz": "Спорт", "en": "Sports"},
    "tech": {"ru": "Технологии", "kz": "Технология", "en": "Technology"},
}
PROMOS = {
    "ru": (
        "Подпишитесь на наш канал в Google News",
        "Наши новости теперь в WhatsApp! Подписывайтесь на наш канал",
    ),
    "kz": ("Сілтемесіз жаңалық оқисыз ба? Қосымшада оқыңыз", "Толығырақ оқу үшін қосымшаға өтіңіз"),
    "en": (),
}
_TODAY = {"ru": ("Сегодня", "Вчера"), "kz": ("Бүгін", "Кеше"), "en": ("Today", "Yesterday")}
_ARTICLE = re.compile(r"^/(?P<section>[a-z_]+)/(?P<slug>[a-z0-9-]+)-(?P<id>\d+)/?$")
_PAGE = re.compile(r"^/news/page/(?P<n>\d+)/?$")
_HTML = "text/html; charset=utf-8"
_RSS = "application/rss+xml; charset=utf-8"


def _local(instant: datetime) -> datetime:
    return instant.astimezone(UTC) + timedelta(hours=astana_offset_hours(instant))


def _month(edition: str, month: int) -> str:
    return {"ru": RU_GENITIVE, "kz": KK_MONTHS, "en": EN_MONTHS}[edition][month - 1]


def shown_date(article: SiteArticle) -> str:
    """The visible date in one of the shapes the site drifted between (chosen by the id)."""
    local = _local(article.published_at)
    month = _month(article.edition, local.month)
    shape = int(article.number) % 3
    if shape == 0:
        return f"{local.day:02d} {month} {local.year} {local:%H:%M}"
    separator = " |" if shape == 1 else ","
    return f"{local.day} {month} {local.year}{separator} {local:%H:%M}"


class TengrinewsSite(MountedSite):
    """tengrinews.kz and its Kazakh and English editions; article ids are "{edition}-{number}"."""

    name = "tengrinews"
    prefixes = tuple(prefix for prefix, *_rest in EDITIONS.values())

    @classmethod
    def generate(cls, n_articles: int = 60, seed: int = 0) -> TengrinewsSite:
        """`n_articles` over ru/kz/en (about 50/30/20), newest first, deterministic for `seed`."""
        rng = random.Random(f"tengrinews-{seed}")
        site = cls([], seed)
        published_at = TENGRINEWS_NEWEST_AT
        next_number = {code: newest for code, (_p, _w, _l, newest) in EDITIONS.items()}
        for _ in range(n_articles):
            edition = rng.choices(tuple(EDITIONS), weights=(5, 3, 2))[0]
            article = site._make(rng, edition, next_number[edition], published_at)
            next_number[edition] -= rng.randint(1, 3)
            site.articles[article.article_id] = article
            published_at -= timedelta(minutes=rng.randint(5, 45))
        site.changed_at = TENGRINEWS_NEWEST_AT
        return site

    def _make(self, rng: random.Random, edition: str, number: int, published_at: datetime) -> SiteArticle:
        text = article_text(rng, EDITIONS[edition][1], published_at, "Tengrinews.kz")
        return SiteArticle(
            article_id=f"{edition}-{number}",
            edition=edition,
            number=str(number),
            section=rng.choice(tuple(SECTIONS)),
            slug=slugify(text["title"]),
            published_at=published_at,
            modified_at=published_at,
            **text,
        )

    def new_article(self, edition: str, published_at: datetime) -> SiteArticle:
        if edition not in EDITIONS:
            raise ValueError(f"Tengrinews editions are {', '.join(EDITIONS)}, not {edition!r}")
        numbers = [int(a.number) for a in self.articles.values() if a.edition == edition]
        number = max(numbers, default=EDITIONS[edition][3]) + 1
        return self._make(self._rng, edition, number, published_at)

    def default_edition(self) -> str:
        return "ru"

    def article_path(self, article: SiteArticle) -> str:
        return f"{EDITIONS[article.edition][0]}/{article.section}/{article.slug}-{article.number}/"

    # --- answering ----------------------------------------------------------------------------

    def route(self, path: str, query: str, headers: dict[str, str], base_url: str) -> Response:
        prefix = next(p for p in self.prefixes if path == p or path.startswith(p + "/"))
        edition, rest = _EDITION_OF_PREFIX[prefix], path[len(prefix) :]
        if rest in ("/news.rss", "/rss"):
            items = [
                rss_item(a, base_url + self.article_path(a), SECTIONS[a.section][edition])
                for a in self.live_articles(edition)[: self.feed_size]
            ]
            feed = rss("Tengrinews.kz", f"{base_url}{prefix}/", EDITIONS[edition][2], items)
            return _conditional(headers, feed.encode(), _RSS, self.changed_at)
        if rest in ("/news", "/news/"):
            return self._listing(edition, 1, headers, base_url)
        page = _PAGE.match(rest)
        if page:
            return self._listing(edition, int(page["n"]), headers, base_url)
        if rest in ("", "/"):
            home = f"<!DOCTYPE html><html><body><a href='{prefix}/news/'>Tengrinews</a></body></html>"
            return _conditional(headers, home.encode(), _HTML, self.changed_at)
        address = _ARTICLE.match(rest)
        if address:
            article = self.articles.get(f"{edition}-{address['id']}")
            if article is not None and not self._known_slug(article, address["slug"]):
                article = None
            return self.article_answer(article, path, headers, base_url)
        return _not_found()

    @staticmethod
    def _known_slug(article: SiteArticle, slug: str) -> bool:
        ending = f"/{slug}-{article.number}/"
        return slug == article.slug or any(old.endswith(ending) for old in article.old_paths)

    def _listing(self, edition: str, page: int, headers: dict[str, str], base_url: str) -> Response:
        live = self.live_articles(edition)
        cards = live[(page - 1) * CARDS_PER_PAGE : page * CARDS_PER_PAGE] if page >= 1 else []
        if not cards:
            return _not_found()  # past the last page
        newest_day = _local(live[0].published_at).date()
        html = self._listing_html(edition, cards, page, newest_day)
        return _conditional(headers, html.encode(), _HTML, self.changed_at)

    def empty_listing(self, path: str, base_url: str) -> bytes:
        prefix = next((p for p in self.prefixes if path.startswith(p + "/")), self.prefixes[0])
        return self._listing_html(_EDITION_OF_PREFIX[prefix], [], 1, None).encode()

    def empty_feed(self, path: str, base_url: str) -> bytes:
        return rss("Tengrinews.kz", base_url + "/", "ru", []).encode()

    def _listing_html(self, edition: str, cards: list[SiteArticle], page: int, newest_day: object) -> str:
        prefix = EDITIONS[edition][0]
        items = "\n".join(self._card(a, newest_day) for a in cards)
        return f"""<!DOCTYPE html>
<html lang="{EDITIONS[edition][2]}">
<head><meta charset="utf-8"><title>Новости - Tengrinews.kz</title></head>
<body>
<div class="content_main">
{items}
</div>
<div class="pagination"><a href="{prefix}/news/page/{page + 1}/">&gt;</a></div>
</body></html>
"""

    def _card(self, article: SiteArticle, newest_day: object) -> str:
        local = _local(article.published_at)
        today, yesterday = _TODAY[article.edition]
        if local.date() == newest_day:
            when = f"{today}, {local:%H:%M}"
        elif newest_day is not None and local.date() == newest_day - timedelta(days=1):  # type: ignore[operator]
            when = yesterday
        else:
            when = f"{local.day:02d} {_month(article.edition, local.month)} {local.year}"
        announce = (
            ""
            if int(article.number) % 5 == 0
            else (f'<span class="content_main_item_announce">{escape(article.lead)}</span>')
        )
        return (
            '<div class="content_main_item">'
            f'<span class="content_main_item_title"><a href="{self.article_path(article)}">'
            f"{escape(article.title)}</a></span>{announce}"
            f'<div class="content_main_item_meta"><span>{when}</span><span>{article.number[-3:]}</span></div>'
            f'<picture><img class="content_main_item_img" src="{_image(article, "thumb_s")}"></picture>'
            "</div>"
        )

    def render_article(self, article: SiteArticle, base_url: str) -> str:
        edition, number = article.edition, int(article.number)
        url = base_url + self.article_path(article)
        section = SECTIONS[article.section][edition]
        news_article = {
            "@type": "NewsArticle",
            "headline": article.title,
            "datePublished": article.published_at.isoformat(),
            "dateModified": article.modified_at.isoformat(),
            "articleSection": section,
            "articleBody": "\n".join(article.paragraphs),
            "author": {"@type": "Person", "name": article.author},
            "publisher": {"@type": "Organization", "name": "Tengrinews.kz"},
        }
        if number % 2:
            json_ld = {
                "@context": "https://schema.org",
                "@graph": [
                    {"@type": "WebPage", "@id": url, "name": article.title},
                    {"@type": "Organization", "name": "Tengrinews.kz"},
                    news_article,
                ],
            }
        else:
            json_ld = {"@context": "https://schema.org", **news_article}
        paragraphs = [f"<p>{escape(p)}</p>" for p in article.paragraphs]
        promos = [f"<p>{escape(line)}</p>" for line in PROMOS[edition]]
        tag_links = " ".join(
            f'<a href="{EDITIONS[edition][0]}/tag/{escape(t)}/">{escape(t)}</a>' for t in article.tags
        )
        tags = f'<div class="content_main_text_tags">{tag_links}</div>'
        inside, after = (tags, "") if number % 2 == 0 else ("", tags)
        body = "\n".join([*paragraphs, inside, *promos])
        structured = json.dumps(json_ld, ensure_ascii=False).replace("</", "<\\/")
        picture = f'<img src="{_image(article, "thumb_b")}" alt="{escape(article.title)}">'
        return f"""<!DOCTYPE html>
<html lang="{EDITIONS[edition][2]}">
<head>
<meta charset="utf-8">
<title>{escape(article.title)} - Tengrinews.kz</title>
<meta name="description" content="{escape(article.lead)}">
<meta name="author" content="{escape(article.author)}">
<meta property="og:type" content="article">
<meta property="og:title" content="{escape(article.title)}">
<meta property="og:description" content="{escape(article.lead)}">
<meta property="og:url" content="{url}">
<meta property="og:image" content="{base_url}{_image(article, "thumb_m")}">
<meta property="article:published_time" content="{article.published_at.isoformat()}">
<link rel="canonical" href="{url}">
<script type="application/ld+json">{structured}</script>
</head>
<body>
<header class="header"><a class="logo" href="{EDITIONS[edition][0]}/">Tengrinews</a></header>
<div class="content_main">
<h1 class="head-single">{escape(article.title)}</h1>
<div class="date-time">{shown_date(article)}</div>
<picture class="content_main_thumb_img">{picture}</picture>
<div class="content_main_text">
{body}
</div>
{after}
</div>
<footer class="footer">© Tengrinews.kz</footer>
</body>
</html>
"""


def _image(article: SiteArticle, size: str) -> str:
    prefix = EDITIONS[article.edition][0]
    return f"{prefix}/userdata/news/{article.published_at:%Y}/news_{article.number}/{size}/photo.jpeg"
