"""Coherent fake people and what they did, from a seed: the sample data every vendor emulator
(and ``syncd demo``) starts from, so the shop, the CRM and the e-mail tools share one crowd.

Coherence: clicks follow opens, opens follow sends, nothing is opened after a hard bounce,
a revoked consent comes with an unsubscribe, a recovered cart has its order, and orders exist
only for buyers. Times are before ``now``; everything else depends only on the seed.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

FIRST_NAMES = (
    "Anna",
    "Ben",
    "Chloe",
    "David",
    "Elena",
    "Felix",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Liam",
    "Maja",
    "Noah",
    "Olga",
    "Pablo",
    "Quinn",
    "Rosa",
    "Samir",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Marta",
    "Piotr",
    "Aiko",
    "Lars",
    "Nadia",
    "Omar",
)
LAST_NAMES = (
    "Nowak",
    "Smith",
    "Garcia",
    "Müller",
    "Rossi",
    "Kowalski",
    "Dubois",
    "Silva",
    "Jensen",
    "Novak",
    "Okafor",
    "Tanaka",
    "Ivanova",
    "Haddad",
    "Larsen",
    "Moreau",
    "Costa",
    "Fischer",
    "Kim",
    "Patel",
    "O'Brien",
    "Weber",
    "Lopez",
    "Berg",
)
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
CITIES = (
    ("Warsaw", "PL"),
    ("Berlin", "DE"),
    ("Lyon", "FR"),
    ("Austin", "US"),
    ("Leeds", "GB"),
    ("Porto", "PT"),
    ("Osaka", "JP"),
    ("Toronto", "CA"),
)
PAGES = (
    "/",
    "/shoes",
    "/shoes/trail-runner",
    "/bags",
    "/bags/city-tote",
    "/sale",
    "/blog",
    "/pricing",
    "/checkout",
    "/account",
)
CAMPAIGNS = ("Spring sale", "New arrivals", "Weekly digest", "Win-back", "VIP preview")
#: where people first came from: (channel, utm source, utm medium, referrer); the channels
#: are a CRM's original-source values, lower-cased
SOURCES = (
    ("organic_search", None, None, "https://www.google.com/"),
    ("paid_search", "google", "cpc", "https://www.google.com/"),
    ("social_media", "instagram", "social", "https://l.instagram.com/"),
    ("paid_social", "facebook", "paid_social", "https://m.facebook.com/"),
    ("email_marketing", "newsletter", "email", None),
    ("referrals", None, None, "https://blog.example.net/best-trail-shoes"),
    ("direct_traffic", None, None, None),
)
FORMS = ("Newsletter sign-up", "Contact us", "Size guide download")
BIRTHDAY_WEEK_EVERY = 12  # one person in so many has a birthday within the next 7 days


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    category: str
    price_cents: int


CATALOG = (
    Product("SH-TR-01", "Trail runner", "shoes", 12900),
    Product("SH-CT-02", "City sneaker", "shoes", 8900),
    Product("BG-TT-01", "City tote", "bags", 5900),
    Product("BG-BP-02", "Daypack", "bags", 7400),
    Product("AC-SK-01", "Wool socks", "accessories", 1500),
    Product("AC-CP-02", "Rain cap", "accessories", 2400),
)


@dataclass(frozen=True, slots=True)
class Item:
    product: Product
    quantity: int

    @property
    def total_cents(self) -> int:
        return self.product.price_cents * self.quantity


@dataclass(frozen=True, slots=True)
class Order:
    key: str
    placed_at: datetime
    items: tuple[Item, ...]
    currency: str = "EUR"
    shipping_cents: int = 0
    discount_cents: int = 0
    from_cart: str | None = None  # the key of the recovered cart it completed

    @property
    def total_cents(self) -> int:
        return sum(i.total_cents for i in self.items) + self.shipping_cents - self.discount_cents


@dataclass(frozen=True, slots=True)
class Cart:
    """A checkout that was started; ``recovered`` when it later became an order."""

    key: str
    created_at: datetime
    items: tuple[Item, ...]
    recovered: bool = False

    @property
    def total_cents(self) -> int:
        return sum(i.total_cents for i in self.items)


@dataclass(frozen=True, slots=True)
class EmailEvent:
    """``sent``, ``open``, ``click``, ``bounce_hard``, ``bounce_soft`` or ``unsubscribe``."""

    key: str
    type: str
    at: datetime
    campaign: str
    link: str | None = None


@dataclass(frozen=True, slots=True)
class PageVisit:
    url: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Source:
    """Where a person first came from: a channel, the UTM tags and referrer of that visit."""

    channel: str
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    referrer: str | None
    landing_page: str
    at: datetime


@dataclass(frozen=True, slots=True)
class FormSubmission:
    form: str
    at: datetime
    url: str


@dataclass(frozen=True, slots=True)
class Person:
    key: str
    first_name: str
    last_name: str
    email: str
    phone: str
    city: str
    country: str
    consent: str | None  # "granted", "revoked" or None (never asked)
    created_at: datetime
    orders: tuple[Order, ...] = ()
    carts: tuple[Cart, ...] = ()
    emails: tuple[EmailEvent, ...] = ()
    visits: tuple[PageVisit, ...] = ()
    birthday: date | None = None
    source: Source | None = None
    forms: tuple[FormSubmission, ...] = ()

    @property
    def bounced_hard(self) -> bool:
        return any(e.type == "bounce_hard" for e in self.emails)

    @property
    def spent_cents(self) -> int:
        return sum(o.total_cents for o in self.orders)


def people(seed: int, count: int = 200, *, now: datetime | None = None) -> list[Person]:
    """``count`` people made from ``seed``, their history ending at ``now`` (UTC midnight
    2024-06-01 unless given): the same seed and ``now`` always give the same people."""
    now = now or datetime(2024, 6, 1, tzinfo=UTC)
    rng = random.Random(f"syncd-people-{seed}")
    return [_person(rng, n, now, seed) for n in range(1, count + 1)]


def pick(crowd: list[Person], share: float, salt: str) -> list[Person]:
    """A stable share of ``crowd`` for one tool (``salt``, e.g. its name): different tools
    hold overlapping but different people, and the same tool always the same ones."""

    def score(p: Person) -> float:
        digest = hashlib.sha256(f"{salt}:{p.key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    return [p for p in crowd if score(p) < share]


def _person(rng: random.Random, n: int, now: datetime, seed: int) -> Person:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = f"{first}.{last}".lower().replace("'", "").replace("ü", "ue")
    email = f"{local}{n}@{rng.choice(DOMAINS)}"
    city, country = rng.choice(CITIES)
    created = now - timedelta(days=rng.randint(30, 720), seconds=rng.randint(0, 86399))
    consent = rng.choices(["granted", "revoked", None], weights=[70, 10, 20])[0]
    kind = rng.choices(["vip", "buyer", "lapsed", "browser"], weights=[8, 35, 22, 35])[0]
    key = f"p{n:05d}"
    orders, carts = _purchases(rng, key, kind, created, now)
    if kind == "lapsed":
        orders = tuple(sorted(orders + _habit(seed, key, created, now), key=lambda o: o.placed_at))
    emails = _emails(rng, key, consent, created, now) if consent else ()
    visits = tuple(
        sorted(
            (
                PageVisit(rng.choice(PAGES), _between(rng, created, now))
                for _ in range(rng.randint(0, 8))
            ),
            key=lambda v: v.at,
        )
    )
    phone = f"+{rng.randint(1, 49)} {rng.randint(200, 999)} {rng.randint(100000, 999999)}"
    # what came later to the crowd draws from a generator of its own, so the people above
    # stay the same for a seed
    more = random.Random(f"syncd-people-{seed}-{key}-more")
    return Person(
        key,
        first,
        last,
        email,
        phone,
        city,
        country,
        consent,
        created,
        orders,
        carts,
        emails,
        visits,
        _birthday(more, n, now),
        _source(more, created),
        _forms(more, consent, created, now),
    )


def _birthday(rng: random.Random, n: int, now: datetime) -> date | None:
    """A birth date for most people; for one in ``BIRTHDAY_WEEK_EVERY`` it falls within the
    next 7 days of ``now`` (so "birthday this week" has members whatever the day)."""
    age = rng.randint(19, 70)
    if n % BIRTHDAY_WEEK_EVERY == 0:
        soon = (now + timedelta(days=rng.randint(1, 6))).date()
        return _years_before(soon, age)
    if rng.random() < 0.3:
        return None
    day = now.date() - timedelta(days=rng.randint(0, 364))
    return _years_before(day, age)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without it
        return day.replace(year=day.year - years, day=28)


def _source(rng: random.Random, created: datetime) -> Source:
    channel, utm_source, utm_medium, referrer = rng.choice(SOURCES)
    campaign = rng.choice(("spring_sale", "new_arrivals", "brand")) if utm_source else None
    return Source(
        channel, utm_source, utm_medium, campaign, referrer, rng.choice(PAGES[:6]), created
    )


def _forms(
    rng: random.Random, consent: str | None, created: datetime, now: datetime
) -> tuple[FormSubmission, ...]:
    """Forms sent: those who gave consent mostly signed up through one; some asked more."""
    sent: list[FormSubmission] = []
    if consent == "granted" and rng.random() < 0.6:
        sent.append(FormSubmission(FORMS[0], created, "https://shop.example.com/"))
    for form, url in ((FORMS[1], "/contact"), (FORMS[2], "/shoes")):
        if rng.random() < 0.12:
            at = _between(rng, created, now)
            sent.append(FormSubmission(form, at, f"https://shop.example.com{url}"))
    return tuple(sorted(sent, key=lambda f: f.at))


def _purchases(
    rng: random.Random, key: str, kind: str, created: datetime, now: datetime
) -> tuple[tuple[Order, ...], tuple[Cart, ...]]:
    count = {
        "vip": rng.randint(5, 12),
        "buyer": rng.randint(1, 4),
        "lapsed": rng.randint(1, 2),
        "browser": 0,
    }[kind]
    # lapsed buyers stopped buying long ago; the others buy up to now
    end = now - timedelta(days=200) if kind == "lapsed" else now
    end = max(end, created + timedelta(days=1))
    orders = [_order(rng, f"{key}-o{i}", _between(rng, created, end)) for i in range(count)]
    carts: list[Cart] = []
    for i in range(rng.choices([0, 1, 2], weights=[60, 30, 10])[0]):
        at = _between(rng, created, now)
        items = _items(rng)
        recovered = rng.random() < 0.3
        cart = Cart(f"{key}-c{i}", at, items, recovered)
        carts.append(cart)
        if recovered:
            placed = min(now, at + timedelta(hours=rng.randint(1, 48)))
            orders.append(Order(f"{key}-o{len(orders)}", placed, items, from_cart=cart.key))
    orders.sort(key=lambda o: o.placed_at)
    return tuple(orders), tuple(carts)


def _habit(seed: int, key: str, created: datetime, now: datetime) -> tuple[Order, ...]:
    """Half the lapsed buyers had a habit they dropped: orders every three to six weeks that
    stopped more than 200 days ago (those a purchase model finds likely gone). Drawn from a
    generator of their own, so the rest of the crowd stays the same for a seed."""
    draw = random.Random(f"syncd-people-{seed}-{key}-habit")
    if draw.random() < 0.5:
        return ()
    at = now - timedelta(days=draw.randint(200, 320))
    found: list[Order] = []
    for i in range(draw.randint(3, 6)):
        if at <= created:
            break
        found.append(_order(draw, f"{key}-h{i}", at))
        at -= timedelta(days=draw.randint(21, 42))
    return tuple(found)


def _order(rng: random.Random, key: str, at: datetime) -> Order:
    items = _items(rng)
    shipping = 0 if sum(i.total_cents for i in items) >= 10000 else 495
    discount = rng.choice([0, 0, 0, 500, 1000])
    return Order(key, at, items, shipping_cents=shipping, discount_cents=discount)


def _items(rng: random.Random) -> tuple[Item, ...]:
    products = rng.sample(CATALOG, rng.randint(1, 3))
    return tuple(Item(p, rng.randint(1, 2)) for p in products)


def _emails(
    rng: random.Random, key: str, consent: str, created: datetime, now: datetime
) -> tuple[EmailEvent, ...]:
    events: list[EmailEvent] = []
    engagement = rng.random()
    hard_bounce_at: datetime | None = None
    sends = sorted(_between(rng, created, now) for _ in range(rng.randint(2, 10)))
    for i, at in enumerate(sends):
        if hard_bounce_at is not None and at > hard_bounce_at:
            continue  # nothing reaches a hard-bounced address
        campaign = rng.choice(CAMPAIGNS)
        base = f"{key}-e{i}"
        events.append(EmailEvent(f"{base}-s", "sent", at, campaign))
        roll = rng.random()
        if roll < 0.03 and hard_bounce_at is None:
            hard_bounce_at = at
            events.append(
                EmailEvent(f"{base}-b", "bounce_hard", at + timedelta(minutes=1), campaign)
            )
        elif roll < 0.08:
            events.append(
                EmailEvent(f"{base}-b", "bounce_soft", at + timedelta(minutes=1), campaign)
            )
        elif rng.random() < engagement:
            opened = at + timedelta(minutes=rng.randint(5, 3000))
            events.append(EmailEvent(f"{base}-o", "open", opened, campaign))
            if rng.random() < 0.4:
                link = f"https://shop.example.com{rng.choice(PAGES)}"
                events.append(
                    EmailEvent(
                        f"{base}-c",
                        "click",
                        opened + timedelta(seconds=rng.randint(3, 600)),
                        campaign,
                        link,
                    )
                )
    if consent == "revoked" and events:
        last = max(e.at for e in events)
        events.append(
            EmailEvent(
                f"{key}-unsub", "unsubscribe", last + timedelta(hours=2), events[-1].campaign
            )
        )
    if hard_bounce_at is not None:  # an address that bounced hard opens nothing later
        events = [
            e
            for e in events
            if e.type in ("sent", "bounce_hard", "bounce_soft") or e.at <= hard_bounce_at
        ]
    return tuple(sorted((e for e in events if e.at <= now), key=lambda e: e.at))


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    span = max(0.0, (end - start).total_seconds())
    return (start + timedelta(seconds=rng.uniform(0, span))).replace(microsecond=0)
