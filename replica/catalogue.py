"""The replica's articles: a deterministic, realistic-looking catalogue in three editions."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

EDITIONS = ("ru", "kz", "en")

# The newest article is published at this instant; older ones step back from it.
# A fixed anchor keeps pages byte-identical for a given seed.
NEWEST_AT = datetime(2025, 11, 12, 14, 9, tzinfo=UTC)


@dataclass(slots=True)
class Article:
    article_id: str
    edition: str  # ru, kz, en
    slug: str
    title: str
    lead: str
    sections: list[tuple[str, list[str], list[str]]]  # (heading, paragraphs, bullet items)
    tags: list[str]
    author: str
    category: str
    published_at: datetime  # aware UTC
    modified_at: datetime  # aware UTC; drives Last-Modified
    generation: str = "A"  # article page markup: "A" current, "B" older
    gone_status: int | None = None  # 404/410 once deleted
    old_slugs: list[str] = field(default_factory=list)  # answered with 301 to the current slug
    revision: int = 0  # bumped on every edit; part of the render cache key

    @property
    def path(self) -> str:
        return article_path(self.edition, self.slug, self.article_id)

    @property
    def body_text(self) -> str:
        return "\n\n".join(p for _, paragraphs, _ in self.sections for p in paragraphs)


def article_path(edition: str, slug: str, article_id: str) -> str:
    if edition == "en":
        return f"/en/news/{slug}-{article_id}/"
    return f"/{edition}/{slug}-{article_id}"


_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюяәғқңөұүһі",
        # "_" drops the letter (hard and soft signs)
        "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch _ y _ e yu ya "  # noqa: SIM905
        "a g k n o u u h i".split(),
        strict=True,
    )
)


def slugify(title: str) -> str:
    """A transliterated, hyphenated slug like the site's ('ii-povisit-tochnost-…')."""
    out: list[str] = []
    for char in title.lower():
        mapped = _TRANSLIT.get(char, char)
        if mapped == "_":
            continue
        out.append(mapped if mapped.isascii() and mapped.isalnum() else "-")
    words = [w for w in "".join(out).split("-") if w]
    return "-".join(words[:8]) or "news"


_WORDS = {
    "ru": {
        "subjects": [
            "Президент",
            "Правительство",
            "Минздрав",
            "Акимат Алматы",
            "Мажилис",
            "Нацбанк",
            "Минэнерго",
            "Сенат",
            "Минобразования",
            "МЧС",
        ],
        "verbs": ["обсудил", "утвердил", "представил", "объявил", "поддержал", "рассмотрел"],
        "objects": [
            "развитие транспортных коридоров",
            "новую программу цифровизации",
            "меры поддержки фермеров",
            "строительство школ",
            "реформу здравоохранения",
            "планы по газификации регионов",
            "итоги полугодия",
            "проект бюджета на 2026 год",
        ],
        "headings": ["Транспорт", "Энергетика", "Образование", "Экономика", "Культура", "Спорт"],
        "sentences": [
            "Об этом сообщает пресс-служба ведомства.",
            "Работы планируется завершить до конца года.",
            "В обсуждении приняли участие представители бизнеса.",
            "Стороны договорились продолжить сотрудничество.",
            "Финансирование предусмотрено в республиканском бюджете.",
            "Эксперты отмечают рост интереса к проекту.",
        ],
        "tags": ["Казахстан", "Экономика", "Касым-Жомарт Токаев", "Акорда", "Регионы", "Общество"],
        "authors": ["Наталья Мосунова", "Айгерим Сапарова", "Ерлан Жаксылыков"],
        "lead_tail": "передает агентство Kazinform.",
        "category": "Политика",
    },
    "kz": {
        "subjects": [
            "Президент",
            "Үкімет",
            "Денсаулық сақтау министрлігі",
            "Алматы әкімдігі",
            "Мәжіліс",
            "Ұлттық банк",
            "Сенат",
        ],
        "verbs": ["талқылады", "бекітті", "таныстырды", "жариялады", "қолдады"],
        "objects": [
            "көлік дәліздерін дамытуды",
            "цифрландырудың жаңа бағдарламасын",
            "фермерлерді қолдау шараларын",
            "мектеп құрылысын",
            "жарты жылдың қорытындысын",
        ],
        "headings": ["Көлік", "Энергетика", "Білім", "Экономика", "Мәдениет"],
        "sentences": [
            "Бұл туралы ведомствоның баспасөз қызметі хабарлады.",
            "Жұмыстар жыл соңына дейін аяқталады.",
            "Талқылауға бизнес өкілдері қатысты.",
            "Тараптар ынтымақтастықты жалғастыруға келісті.",
        ],
        "tags": ["Қазақстан", "Экономика", "Қасым-Жомарт Тоқаев", "Ақорда", "Өңірлер"],
        "authors": ["Әлия Сәрсенова", "Нұрлан Бекұлы"],
        "lead_tail": "деп хабарлайды Kazinform агенттігі.",
        "category": "Саясат",
    },
    "en": {
        "subjects": [
            "President",
            "Government",
            "Health Ministry",
            "Almaty akimat",
            "Majilis",
            "National Bank",
            "Senate",
            "Energy Ministry",
        ],
        "verbs": ["discusses", "approves", "presents", "announces", "backs", "reviews"],
        "objects": [
            "transport corridors",
            "a new digitalization program",
            "support for farmers",
            "school construction",
            "healthcare reform",
            "gas supply to regions",
            "half-year results",
            "the 2026 draft budget",
        ],
        "headings": ["Transport", "Energy", "Education", "Economy", "Culture", "Sport"],
        "sentences": [
            "The ministry's press service reported this.",
            "The works are to be completed by the end of the year.",
            "Business representatives took part in the discussion.",
            "The parties agreed to continue cooperation.",
            "Funding is provided in the national budget.",
        ],
        "tags": ["Kazakhstan", "Economy", "Kassym-Jomart Tokayev", "Akorda", "Regions", "Society"],
        "authors": ["Arailym Temirgaliyeva", "Dana Kozhakhmetova"],
        "lead_tail": "Kazinform News Agency correspondent reports.",
        "category": "Politics",
    },
}


def generate_articles(n_articles: int, seed: int, generation_b_share: float = 0.2) -> list[Article]:
    """`n_articles` spread over ru/kz/en (about 50/30/20), newest first, deterministic for `seed`."""
    rng = random.Random(seed)
    articles: list[Article] = []
    used_ids: set[str] = set()
    published_at = NEWEST_AT
    for _ in range(n_articles):
        edition = rng.choices(EDITIONS, weights=(5, 3, 2))[0]
        article_id = new_article_id(rng, used_ids)
        articles.append(make_article(rng, edition, article_id, published_at, generation_b_share))
        published_at -= timedelta(minutes=rng.randint(3, 40))
    return articles


def new_article_id(rng: random.Random, used: set[str]) -> str:
    while True:
        # Mostly 8 hex digits like "8221b43c"; some 6 like "6544df", as on the site.
        article_id = f"{rng.getrandbits(32):08x}" if rng.random() < 0.8 else f"{rng.getrandbits(24):06x}"
        if article_id not in used and not article_id.isdigit():
            used.add(article_id)
            return article_id


def make_article(
    rng: random.Random, edition: str, article_id: str, published_at: datetime, b_share: float
) -> Article:
    words = _WORDS[edition]
    subject = rng.choice(words["subjects"])
    title = f"{subject} {rng.choice(words['verbs'])} {rng.choice(words['objects'])}"
    lead = f"{title}, {words['lead_tail']}"
    sections = []
    for heading in rng.sample(words["headings"], k=rng.randint(1, 3)):
        paragraphs = [" ".join(rng.sample(words["sentences"], k=2)) for _ in range(rng.randint(1, 3))]
        bullets = [rng.choice(words["sentences"]) for _ in range(rng.randint(0, 3))]
        sections.append((heading, paragraphs, bullets))
    return Article(
        article_id=article_id,
        edition=edition,
        slug=slugify(title),
        title=title,
        lead=lead,
        sections=sections,
        tags=rng.sample(words["tags"], k=rng.randint(1, 4)),
        author=rng.choice(words["authors"]),
        category=words["category"],
        published_at=published_at,
        modified_at=published_at,
        generation="B" if rng.random() < b_share else "A",
    )
