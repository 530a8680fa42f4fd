"""Markup of the replica's pages, following SITE.md.

Article pages, generation A (current layout): og:title with a " | Kazinform" suffix, meta author and
article:published_time, JSON-LD NewsArticle, `.article__description` lead, `div.article__body-text`
with <p>/<h2>/<ul><li>, a "read also" block, share buttons, an inline script, `div.article__tags`
links, and the visible date `HH:MM, D Month YYYY` (genitive months in Russian).

Article pages, generation B (older layout): og:title without suffix, no JSON-LD and no meta author
(the author is only in `.article__author .author__name`), the visible date in the nominative with
" | GMT +5", the body in `div.article__content`, tags in `div.article__tags`.

Listing cards: generation A `a.news-card` > `time.meta-date` + `h3.card-title` with relative links;
generation B `.allNewsCard` > `a[href]` > `.allNewsCard_title`, `.allNewsCard_time`, absolute links.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from xml.sax.saxutils import escape as xml_escape

from replica.catalogue import Article

RU_GENITIVE = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
]
RU_NOMINATIVE = [
    "Январь",
    "Февраль",
    "Март",
    "Апрель",
    "Май",
    "Июнь",
    "Июль",
    "Август",
    "Сентябрь",
    "Октябрь",
    "Ноябрь",
    "Декабрь",
]
KK_MONTHS = [
    "қаңтар",
    "ақпан",
    "наурыз",
    "сәуір",
    "мамыр",
    "маусым",
    "шілде",
    "тамыз",
    "қыркүйек",
    "қазан",
    "қараша",
    "желтоқсан",
]
EN_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]

_READ_ALSO = {"ru": "Читайте также", "kz": "Сондай-ақ оқыңыз", "en": "Read also"}
_TAGS_LABEL = {"ru": "Теги:", "kz": "Тегтер:", "en": "Tags:"}
_AUTHOR_LABEL = {"ru": "Автор", "kz": "Автор", "en": "Author"}
_HTML_LANG = {"ru": "ru", "kz": "kk", "en": "en"}


def astana_offset_hours(instant: datetime) -> int:
    """UTC+5 everywhere in Kazakhstan since 1 March 2024; Astana was UTC+6 before."""
    return 5 if instant >= datetime(2024, 3, 1, tzinfo=UTC) else 6


def visible_date(instant: datetime, edition: str, *, nominative: bool = False, offset: bool = False) -> str:
    """'21:38, 18 Августа 2026' (ru genitive, capitalised as the site does), Kazakh/English months."""
    hours = astana_offset_hours(instant)
    local = instant.astimezone(UTC) + timedelta(hours=hours)
    month_index = local.month - 1
    if edition == "ru":
        month = RU_NOMINATIVE[month_index] if nominative else RU_GENITIVE[month_index].capitalize()
    elif edition == "kz":
        month = KK_MONTHS[month_index]
    else:
        month = EN_MONTHS[month_index]
    text = f"{local:%H:%M}, {local.day} {month} {local.year}"
    return f"{text} | GMT +{hours}" if offset else text


def http_date(instant: datetime) -> str:
    return format_datetime(instant.astimezone(UTC), usegmt=True)


def article_page(article: Article, base_url: str, related: list[Article]) -> str:
    if article.generation == "B":
        return _article_page_b(article, base_url)
    return _article_page_a(article, base_url, related)


def _body_html(article: Article) -> str:
    parts: list[str] = []
    for heading, paragraphs, bullets in article.sections:
        parts.append(f"<h2>{escape(heading)}</h2>")
        parts.extend(f"<p>{escape(p)}</p>" for p in paragraphs)
        if bullets:
            parts.append("<ul>" + "".join(f"<li>{escape(b)}</li>" for b in bullets) + "</ul>")
    return "\n".join(parts)


def _tags_html(article: Article, base_url: str) -> str:
    links = "".join(
        f'<a href="{base_url}/{article.edition}/tags/{escape(t.lower().replace(" ", "-"))}">{escape(t)}</a>'
        for t in article.tags
    )
    return f'<div class="article__tags"><span>{_TAGS_LABEL[article.edition]}</span>{links}</div>'


def _article_page_a(article: Article, base_url: str, related: list[Article]) -> str:
    url = base_url + article.path
    json_ld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article.title,
        "description": article.lead,
        "datePublished": article.published_at.isoformat(),
        "dateModified": article.modified_at.isoformat(),
        "author": {"@type": "Person", "name": article.author},
        "publisher": {"@type": "Organization", "name": "Kazinform"},
        "mainEntityOfPage": url,
        "keywords": article.tags,
    }
    read_also = "".join(
        f'<li><a href="{r.path}">{escape(r.title)}</a></li>' for r in related if r is not article
    )
    return f"""<!DOCTYPE html>
<html lang="{_HTML_LANG[article.edition]}">
<head>
<meta charset="utf-8">
<title>{escape(article.title)} | Kazinform</title>
<meta property="og:title" content="{escape(article.title)} | Kazinform">
<meta property="og:description" content="{escape(article.lead)}">
<meta property="og:url" content="{url}">
<meta property="og:type" content="article">
<meta name="author" content="{escape(article.author)}">
<meta name="article:published_time" content="{article.published_at.isoformat()}">
<link rel="canonical" href="{url}">
<script type="application/ld+json">{json.dumps(json_ld, ensure_ascii=False)}</script>
</head>
<body>
<header class="header"><a href="/{article.edition}/" class="logo">Kazinform</a></header>
<main class="article">
<div class="article__category">{escape(article.category)}</div>
<time class="article__date" datetime="{article.published_at.isoformat()}">{
        visible_date(article.published_at, article.edition)
    }</time>
<h1 class="article__title">{escape(article.title)}</h1>
<div class="article__description">{escape(article.lead)}</div>
<div class="article__body-text">
{_body_html(article)}
<div class="read-also"><span>{_READ_ALSO[article.edition]}</span><ul>{read_also}</ul></div>
<script>window.__articleViews = (window.__articleViews || 0) + 1;</script>
</div>
{_tags_html(article, base_url)}
<div class="article__author"><span class="name">{escape(article.author)}</span>
<span class="label">{_AUTHOR_LABEL[article.edition]}</span></div>
<div class="share"><a class="share__tg" href="https://t.me/share/url?url={url}">Telegram</a>
<a class="share__wa" href="https://wa.me/?text={url}">WhatsApp</a></div>
</main>
<footer class="footer">© Kazinform</footer>
</body>
</html>
"""


def _article_page_b(article: Article, base_url: str) -> str:
    url = base_url + article.path
    body = "\n".join(f"<p>{escape(p)}</p>" for _, paragraphs, _ in article.sections for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="{_HTML_LANG[article.edition]}">
<head>
<meta charset="utf-8">
<title>{escape(article.title)}</title>
<meta property="og:title" content="{escape(article.title)}">
<meta property="og:url" content="{url}">
</head>
<body>
<div class="article">
<div class="article__date">{
        visible_date(article.published_at, article.edition, nominative=True, offset=True)
    }</div>
<h1 class="article__title">{escape(article.title)}</h1>
<div class="article__description">{escape(article.lead)}</div>
<div class="article__content">
{body}
</div>
{_tags_html(article, base_url)}
<div class="article__author"><span class="author__name">{escape(article.author)}</span></div>
</div>
</body>
</html>
"""


def listing_page(edition: str, articles: list[Article], base_url: str, generation: str, page: int) -> str:
    if generation == "B":
        cards = "\n".join(
            f'<div class="allNewsCard"><a href="{base_url}{a.path}">'
            f'<div class="allNewsCard_title">{escape(a.title)}</div></a>'
            f'<div class="allNewsCard_time">{visible_date(a.published_at, a.edition, nominative=True)}'
            "</div></div>"
            for a in articles
        )
        container = f'<div class="allNews">\n{cards}\n</div>'
    else:
        cards = "\n".join(
            f'<a href="{a.path}" class="news-card"><time class="meta-date">'
            f"{visible_date(a.published_at, a.edition)}</time>"
            f'<h3 class="card-title">{escape(a.title)}</h3></a>'
            for a in articles
        )
        container = f'<section class="lenta">\n{cards}\n</section>'
    return f"""<!DOCTYPE html>
<html lang="{_HTML_LANG[edition]}">
<head><meta charset="utf-8"><title>Лента новостей | Kazinform</title></head>
<body>
<h1>Лента новостей</h1>
{container}
<nav class="pagination"><a href="/{edition}/lenta?page={page + 1}">&gt;</a></nav>
</body></html>
"""


def rss_feed(edition: str, articles: list[Article], base_url: str) -> str:
    items = "\n".join(
        f"""<item>
<title>{xml_escape(a.title)}</title>
<link>{base_url}{a.path}</link>
<guid isPermaLink="true">{base_url}{a.path}</guid>
<description>{xml_escape(a.lead)}</description>
<pubDate>{http_date(a.published_at)}</pubDate>
<category>{xml_escape(a.category)}</category>
</item>"""
        for a in articles
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
<channel>
<title>Kazinform ({edition})</title>
<link>{base_url}/{edition}/</link>
<description>Kazinform news</description>
<language>{_HTML_LANG[edition]}</language>
{items}
</channel>
</rss>
"""
