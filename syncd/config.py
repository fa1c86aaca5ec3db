"""The YAML configuration: validated models, with every error as one ``file:line: path`` line."""

from __future__ import annotations

import contextlib
import math
import re
import zoneinfo
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from syncd.duration import Duration, OptionalDuration
from syncd.errors import ConfigError, did_you_mean
from syncd.secrets import register_secret
from syncd.segments.include import merge_includes
from syncd.segments.predict_config import PredictConfig
from syncd.settings import Settings, load_settings
from syncd.store.engine import store_url
from syncd.webhooks.config import WebhooksConfig
from syncd.yamlsource import Loc, SourceMap, load_yaml

M = TypeVar("M", bound=BaseModel)
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class StoreConfig(Strict):
    url: str = Field(
        default="sqlite:///syncd.db",
        description="An SQLAlchemy URL: sqlite:///relative/path.db (from this file's folder) or "
        "postgresql+psycopg://user@host/db. SYNCD_STORE_URL overrides it.",
    )
    busy_timeout: Duration = Field(
        default=timedelta(seconds=30),
        description="On SQLite, how long a command waits for another syncd writing the same file "
        "(at most 1h).",
    )
    outbox_retention: Duration = Field(
        default=timedelta(days=7),
        description="How long the outbox keeps a change done or superseded (one failed for good "
        "stays).",
    )
    # the status page's charts read them
    history_retention: Duration = Field(
        default=timedelta(days=400),
        description="How long each compute's segment sizes are kept.",
    )

    @field_validator("url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        check_store_url(value)
        return value

    @field_validator("busy_timeout")
    @classmethod
    def _busy_timeout(cls, value: timedelta) -> timedelta:
        if value > timedelta(hours=1):
            raise ValueError("busy_timeout is at most 1h: a longer wait looks like a hang")
        return value


def check_store_url(url: str) -> None:
    """Raise ValueError unless ``url`` names a SQLite or PostgreSQL database whose driver is
    installed (never echoes the URL: it may hold a password)."""
    example = "e.g. sqlite:///var/syncd.db or postgresql://user@host/db"
    if "\x00" in url:
        raise ValueError(f"the store url contains a NUL character ({example})")
    try:
        parsed = store_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ValueError(f"the store url is not a database URL ({example})") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(
            f"the store url names {backend[:40]!r}: syncd stores in SQLite or PostgreSQL "
            f"({example})"
        )
    try:
        parsed.get_dialect().import_dbapi()
    except NoSuchModuleError:
        raise ValueError(
            f"the store url names an unknown driver {parsed.drivername[:60]!r} ({example})"
        ) from None
    except ImportError as exc:
        raise ValueError(
            f"the store url's driver {parsed.drivername!r} is not installed ({exc.name or exc}); "
            "install it, or write postgresql:// for the driver syncd comes with"
        ) from None


class ConnectorInstanceConfig(BaseModel):
    """One entry of ``connectors:``: its ``type`` and the connector's own options."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(description="The connector type (`syncd plugins` lists them).")
    # e.g. the copies of the shop's orders an e-mail tool receives (checked against the known
    # event types)
    skip_events: list[str] = Field(
        default_factory=list,
        description="Event types this instance reports that syncd should not count (copies of "
        "another source's).",
    )

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


PREDICTIONS = ("churn_risk", "p_alive", "expected_orders", "value", "next_order_at")


class ComputedValue(Strict):
    """A computed value sent to a destination field: a score, a part of the RFM, a tier (the
    first of an ordered list of segments the contact is in) or a prediction."""

    score: str | None = Field(default=None, description="A score's value, rounded.")
    rfm: Literal["class", "r", "f", "m", "score"] | None = Field(
        default=None, description='A part of the RFM: class, r, f, m, or score ("545").'
    )
    tier: str | None = Field(default=None, description="A tier of `tiers:`: its value.")
    predicted: Literal["churn_risk", "p_alive", "expected_orders", "value", "next_order_at"] | (
        None
    ) = Field(default=None, description="A prediction (two decimals; next_order_at a date).")

    @model_validator(mode="after")
    def _one(self) -> ComputedValue:
        given = [k for k in ("score", "rfm", "tier", "predicted") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give one of score: NAME, rfm: class|r|f|m|score, tier: NAME or predicted: "
                + "|".join(PREDICTIONS)
            )
        return self


class TierConfig(Strict):
    """An ordered list of segments giving one value: that of the first the contact is in."""

    segments: dict[str, str] = Field(
        description="segment -> the value its members get, first match wins; a list of "
        "segments gives each its own name."
    )
    default: str | None = Field(
        default=None, description="The value of a contact in none of them (none: no value)."
    )

    @field_validator("segments", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {str(name): str(name) for name in value}
        if isinstance(value, dict):
            return {k: str(v) if isinstance(v, int | float) else v for k, v in value.items()}
        return value

    @field_validator("segments")
    @classmethod
    def _some(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("a tier takes at least one segment")
        return value


# a destination field's source: a contact field's name, or a computed value; told apart by
# its shape, so a mistake is said once, of the one it is (the tags are left out of the path)
UNION_TAGS = ("contact field", "computed value")
FieldSource = Annotated[
    Annotated[str, Tag(UNION_TAGS[0])] | Annotated[ComputedValue, Tag(UNION_TAGS[1])],
    Discriminator(lambda v: UNION_TAGS[0] if isinstance(v, str) else UNION_TAGS[1]),
]


class DestinationConfig(Strict):
    connector: str = Field(description="The connector instance that receives the changes.")
    mode: Literal["managed", "mirror", "add_only"] = Field(
        default="managed",
        description="managed: syncd adds and removes what it manages; mirror: the destination "
        "is made to match; add_only: never removes.",
    )
    max_removals: int | str = Field(
        default="10%",
        description="At most this many removals a cycle before the plan is held for "
        '`syncd push --confirm`: a number, or a share such as "10%".',
    )
    min_removals: int = Field(
        default=10, ge=0, description="A share never holds fewer removals than this."
    )
    tags: dict[str, str] = Field(
        default_factory=dict, description="segment -> the tag its members get."
    )
    lists: dict[str, str] = Field(
        default_factory=dict, description="segment -> the list its members are subscribed to."
    )
    fields: dict[str, FieldSource] = Field(
        default_factory=dict,
        description="remote field -> a contact field, {score: NAME}, {rfm: class|r|f|m|score}, "
        "{tier: NAME} or {predicted: churn_risk|p_alive|expected_orders|value|next_order_at}.",
    )

    @field_validator("tags", "lists", mode="before")
    @classmethod
    def _segment_names(cls, value: Any) -> Any:
        # a plain list of segments maps each segment to a tag or list of the same name
        if isinstance(value, list):
            return {name: name for name in value}
        return value

    @field_validator("max_removals")
    @classmethod
    def _share(cls, value: int | str) -> int | str:
        if isinstance(value, str) and not re.fullmatch(r"\d+(\.\d+)?%", value.strip()):
            raise ValueError(f"max_removals {value!r}: write a number or a share such as 10%")
        if isinstance(value, int) and value < 0:
            raise ValueError("max_removals must not be negative")
        return value

    def removal_limit(self, current: int) -> int:
        """The most removals allowed against ``current`` members held at the destination."""
        if isinstance(self.max_removals, int):
            return self.max_removals
        share = float(self.max_removals.strip().rstrip("%")) / 100
        return max(self.min_removals, int(current * share))


class ScheduleConfig(Strict):
    run: Literal["sync", "pull", "compute", "push"] = Field(
        default="sync", description="sync (a whole cycle), pull, compute or push."
    )
    connectors: list[str] = Field(
        default_factory=list,
        description="For run: pull, the instances to pull (all when none).",
    )
    destinations: list[str] = Field(
        default_factory=list,
        description="For run: push, the destinations to push (all when none).",
    )
    every: OptionalDuration = Field(
        default=None, description="Runs at start and then at this interval."
    )
    cron: str | None = Field(
        default=None, description="Runs at these times (five crontab fields) in `timezone`."
    )
    timezone: str | None = Field(
        default=None, description="The time zone of `cron`, e.g. Europe/Warsaw."
    )
    jitter: OptionalDuration = Field(
        default=None,
        description="A random delay of up to this, so replicas do not fire together.",
    )

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Warsaw, UTC)") from None
        return value

    @field_validator("cron")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value, timezone="UTC")
            except ValueError as exc:
                raise ValueError(
                    f"bad cron {value!r}: {exc} (write five fields: minute hour day month "
                    "weekday, e.g. '*/15 * * * *')"
                ) from None
        return value

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleConfig:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of every: or cron:")
        if self.connectors and self.run != "pull":
            raise ValueError(f"connectors: names what a pull reads; this schedule runs {self.run}")
        if self.destinations and self.run != "push":
            raise ValueError(
                f"destinations: names where a push sends; this schedule runs {self.run}"
            )
        return self


class DaemonConfig(Strict):
    """``daemon:``: how ``syncd run`` serves health, catches up, stops and judges readiness."""

    health: str = Field(
        default="127.0.0.1:9780",
        description="HOST:PORT of /healthz, /readyz and /metrics; port 0 takes a free port; "
        "off serves none.",
    )
    misfire_grace: Duration = Field(
        default=timedelta(minutes=5),
        description="A run missed by less than this (syncd was busy) still runs, once.",
    )
    shutdown_timeout: Duration = Field(
        default=timedelta(minutes=2),
        description="On SIGTERM, how long the batch in flight may take.",
    )
    ready_within: Duration = Field(
        default=timedelta(hours=2),
        description="/readyz fails when no schedule finished ok for this long.",
    )
    ui_token: str | None = Field(
        default=None,
        description="The status page's token, needed when daemon.health listens off loopback "
        "(docs/ui.md). Write it as ${ENV_VAR}.",
    )

    @field_validator("health", mode="before")
    @classmethod
    def _health(cls, value: Any) -> Any:
        if value is False:  # YAML reads a bare off as false
            return "off"
        if isinstance(value, str):
            check_health_address(value)
        return value


def check_health_address(address: str) -> None:
    """Raise ValueError unless ``address`` is ``off`` or an address the health server takes."""
    if address.strip().lower() == "off":
        return
    from syncd.daemon.health import parse_address

    try:
        parse_address(address)
    except ConfigError as exc:
        raise ValueError(exc.message) from None


class UiConfig(Strict):
    """``ui:``: the status page served beside the health endpoints and by ``syncd ui``."""

    # off: the daemon's port answers /healthz /readyz /metrics only
    enabled: bool = Field(
        default=True, description="Serve the status page beside the health endpoints."
    )
    # as j***@example.com
    mask_emails: bool = Field(
        default=False, description="Show contacts' e-mail addresses masked on the status page."
    )


class Config(Strict):
    store: StoreConfig = Field(
        default_factory=StoreConfig,
        description="Where syncd keeps its copy of the data, the outbox and its runs.",
    )
    plugins_dir: str | None = Field(
        default=None,
        description="A folder of plugin files (*.py) loaded beside the installed ones, relative "
        "to this file.",
    )
    precedence: list[str] = Field(
        default_factory=list,
        description="Source instances, strongest first: when two know a field, the first wins.",
    )
    connectors: dict[str, ConnectorInstanceConfig] = Field(
        default_factory=dict,
        description="Connector instances by name: each a `type` and that connector's options. "
        "Secrets as ${ENV_VAR}.",
    )
    include: list[str] = Field(
        default_factory=list,
        description="Files or folders of segments, scores and fields merged into this config "
        "(relative to this file).",
    )
    fields: dict[str, Literal["text", "number", "date", "bool"]] = Field(
        default_factory=dict,
        description="Contact fields beyond the connectors' own, with their type.",
    )
    event_types: list[str] = Field(
        default_factory=list, description="Event types beyond the built-in ones."
    )
    segments: dict[str, Any] = Field(
        default_factory=dict, description="Segments by name: each a rule (see docs/segments.md)."
    )
    scores: dict[str, Any] = Field(
        default_factory=dict,
        description="Scores by name: points per event or field, with a decay.",
    )
    tiers: dict[str, TierConfig] = Field(
        default_factory=dict,
        description="Tiers by name: an ordered list of segments giving one field value.",
    )
    predict: PredictConfig | None = Field(
        default=None,
        description="Predicted orders and value per contact (the `predicted:` rule).",
    )
    destinations: list[DestinationConfig] = Field(
        default_factory=list,
        description="The connector instances that receive tags, lists and fields computed from "
        "the segments.",
    )
    schedules: dict[str, ScheduleConfig] = Field(
        default_factory=dict,
        description="The jobs `syncd run` runs, by name: `every:` an interval or `cron:` times.",
    )
    daemon: DaemonConfig = Field(
        default_factory=DaemonConfig,
        description="How `syncd run` serves health, catches up, stops and judges readiness.",
    )
    ui: UiConfig = Field(default_factory=UiConfig, description="The status page.")
    webhooks: WebhooksConfig = Field(
        default_factory=WebhooksConfig,
        description="Webhook ingest on the daemon's port: POST /webhooks/NAME (docs/webhooks.md).",
    )

    # set by load_config, not by the YAML
    _source: SourceMap
    _base_dir: Path
    _broken: set[str]  # connector instances left out for a mistake (check goes on without)

    @property
    def source(self) -> SourceMap:
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    def destination(self, instance: str) -> DestinationConfig:
        for dest in self.destinations:
            if dest.connector == instance:
                return dest
        raise KeyError(instance)


def load_config(
    path: str | Path,
    *,
    environ: dict[str, str] | None = None,
    settings: Settings | None = None,
    lazy_secrets: bool = False,
) -> Config:
    """Read and validate the config at ``path``; raise ConfigError on the first mistake.

    With ``lazy_secrets`` a ``${NAME}`` not set in the environment is no mistake yet: it stays
    as written, in ``config.source.unset``, and is one when its connector is opened
    (:func:`require_secrets`). Commands that open no connector need no secret."""
    path = Path(path)
    data, source = load_yaml(path, environ, lazy=lazy_secrets)
    for loc in list(source.unset):
        if loc[:1] != ("connectors",):  # only a connector's secrets wait for it to open
            raise source.unset_errors(loc)[0]
    if not isinstance(data, dict):
        raise source.error((), "the config must be a mapping of sections (store, connectors, ...)")
    merge_includes(data, source, path.resolve().parent, environ)
    config, broken = _validate_config(data, source)
    config._broken = broken
    config._source = source
    config._base_dir = path.resolve().parent
    settings = settings or load_settings()
    if settings.store_url:
        try:
            check_store_url(settings.store_url)
        except ValueError as exc:
            raise ConfigError(str(exc), path="SYNCD_STORE_URL") from None
        config.store.url = settings.store_url
    config.store.url = _resolve_sqlite_path(config.store.url, config._base_dir)
    register_secret(store_url(config.store.url).password or "")  # the store's own password
    register_secret(config.daemon.ui_token or "")  # the status page's token
    for secrets in config.webhooks.connectors.values():
        for value in (secrets.secret, secrets.token, secrets.password):
            register_secret(value or "")
    _check_references(config)
    _check_rule_nesting(config)
    _check_numbers(config)
    return config


_collecting: ContextVar[list[ConfigError] | None] = ContextVar("syncd_mistakes", default=None)


@contextlib.contextmanager
def collecting() -> Iterator[list[ConfigError]]:
    """Within, :func:`mistake` notes each mistake and the check goes on (``syncd check``
    reports every one); outside, the first mistake is raised."""
    found: list[ConfigError] = []
    token = _collecting.set(found)
    try:
        yield found
    finally:
        _collecting.reset(token)


def collecting_now() -> bool:
    return _collecting.get() is not None


def mistake(error: ConfigError) -> None:
    """Note ``error`` when collecting, else raise it."""
    found = _collecting.get()
    if found is None:
        raise error
    if str(error) not in {str(e) for e in found}:
        found.append(error)


def _validate_config(data: dict[str, Any], source: SourceMap) -> tuple[Config, set[str]]:
    """The config; when collecting, every mistake pydantic finds is noted and the entries
    with one are left out, so the rest is checked too."""
    try:
        return Config.model_validate(data), set()
    except ValidationError as exc:
        errors = validation_errors(exc, source)
        if _collecting.get() is None:
            raise errors[0] from None
        for error in errors:
            mistake(error)
        locs = [tuple(e["loc"]) for e in exc.errors(include_url=False)]
        pruned = _without(data, locs)
        broken = {str(loc[1]) for loc in locs if len(loc) > 1 and loc[0] == "connectors"}
        try:
            return Config.model_validate(pruned), broken
        except ValidationError:
            raise errors[0] from None


def _without(data: dict[str, Any], locs: list[tuple[Any, ...]]) -> dict[str, Any]:
    """``data`` without the entry (a connector, a destination, a schedule...) each of
    ``locs`` is in; a section whose entry cannot be told goes whole."""
    out = dict(data)
    drop_items: dict[str, set[Any]] = {}
    for loc in locs:
        top = str(loc[0]) if loc else ""
        if len(loc) < 2 or not isinstance(out.get(top), dict | list):
            out.pop(top, None)
        else:
            drop_items.setdefault(top, set()).add(loc[1])
    for top, keys in drop_items.items():
        value = out.get(top)
        if isinstance(value, dict):
            out[top] = {k: v for k, v in value.items() if k not in keys}
        elif isinstance(value, list):
            out[top] = [v for i, v in enumerate(value) if i not in keys]
    return out


def require_secrets(config: Config, instance: str | None = None) -> None:
    """Raise the first ``environment variable X is not set`` of the config (or of one
    connector instance): before opening a connector."""
    under: Loc = ("connectors", instance) if instance else ()
    errors = config.source.unset_errors(under)
    if errors:
        raise errors[0]


def validate_model(model: type[M], data: Any, source: SourceMap, at: Loc = ()) -> M:
    """Validate ``data`` against ``model``; the first error becomes one ConfigError line
    (when collecting, every error is noted, and the first raised to end this part)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = validation_errors(exc, source, at)
        if _collecting.get() is not None:
            for error in errors:
                mistake(error)
        raise errors[0] from None


def validation_errors(exc: ValidationError, source: SourceMap, at: Loc = ()) -> list[ConfigError]:
    """Each error pydantic found, one ConfigError line each."""
    return [_one_error(e, source, at) for e in exc.errors(include_url=False)]


def validation_error(exc: ValidationError, source: SourceMap, at: Loc = ()) -> ConfigError:
    return _one_error(exc.errors(include_url=False)[0], source, at)


def _one_error(error: Any, source: SourceMap, at: Loc) -> ConfigError:
    loc = (*at, *[p for p in error["loc"] if isinstance(p, str | int) and p not in UNION_TAGS])
    kind = error["type"]
    if kind == "extra_forbidden":
        return source.error(loc, f"unknown key {loc[-1]!r}")
    if kind == "missing":
        return source.error(loc[:-1], f"missing key {loc[-1]!r}")
    return source.error(loc, _message(error))


def _message(error: Any) -> str:
    kind = error["type"]
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        message = "should be a mapping"
    elif kind in ("list_type", "tuple_type", "set_type"):
        message = "should be a list"
    else:
        message = error["msg"].removeprefix("Value error, ").replace("Input should be", "should be")
    if kind in ("value_error", "assertion_error"):
        return str(message)  # our own validators name the value themselves
    shown = repr(error.get("input"))
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{message} (got {shown})"


def _resolve_sqlite_path(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


# SQLite parses a statement on a stack of fixed size: six nested `not`s, or sixteen nested
# two-part `all`s, overflow it. Every form but `not` takes three times that room; the bound
# is five levels of all/any/not, counting the segments a rule refers to (compute may write
# their rules in place). SQLite also takes at most 500 parts in one compound SELECT.
MAX_RULE_DEPTH = 5
MAX_RULE_PARTS = 200
COMBINATORS = ("all", "any", "not")


def _check_rule_nesting(config: Config) -> None:
    """Refuse a segment whose rules nest deeper than MAX_RULE_DEPTH, or an all/any with more
    than MAX_RULE_PARTS parts, before the database refuses its SQL."""
    # each segment: the deepest nesting of its own rule, and each reference at its depth
    own: dict[str, tuple[int, Loc, list[tuple[str, int, Loc]]]] = {}
    for name, rule in config.segments.items():
        refs: list[tuple[str, int, Loc]] = []
        own[name] = (*_nesting(rule, ("segments", name), refs, config.source), refs)
    depths: dict[str, tuple[int, Loc, str]] = {}  # with references: depth, where, through
    for name in own:
        stack = [name]
        while stack:  # depth first without recursion: a long chain of references is fine
            top = stack[-1]
            waiting = [r for r, _, _ in own[top][2] if r in own and r not in depths]
            waiting = [r for r in waiting if r not in stack]  # a cycle: the parser says so
            if waiting:
                stack.append(waiting[0])
                continue
            stack.pop()
            depth, loc, _ = own[top]
            best = (depth, loc, "")
            for ref, at, ref_loc in own[top][2]:
                if ref in depths and at + depths[ref][0] > best[0]:
                    best = (at + depths[ref][0], ref_loc, ref)
            depths[top] = best
    for name, (depth, loc, through) in depths.items():
        if depth > MAX_RULE_DEPTH:
            via = f", counting segment {through!r} it refers to" if through else ""
            mistake(
                config.source.error(
                    loc if through else ("segments", name),
                    f"segment {name!r} nests all/any/not {depth} levels deep{via}; at most "
                    f"{MAX_RULE_DEPTH} are allowed (the store's SQL parser runs out of room)",
                )
            )


def _check_numbers(config: Config) -> None:
    """Refuse a number in a rule or a score that no store column holds (a 64-bit integer,
    a finite float)."""
    stack: list[tuple[Any, Loc]] = [(config.segments, ("segments",)), (config.scores, ("scores",))]
    while stack:
        value, loc = stack.pop()
        if isinstance(value, dict):
            stack += [(v, (*loc, str(k))) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(v, (*loc, i)) for i, v in enumerate(value)]
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int) and not -(2**63) <= value < 2**63:
            mistake(config.source.error(loc, "a number beyond what the store holds (64 bits)"))
        elif isinstance(value, float) and not math.isfinite(value):
            mistake(config.source.error(loc, f"{value} is not a number the store can compare"))


def _nesting(
    rule: Any, loc: Loc, refs: list[tuple[str, int, Loc]], source: SourceMap, above: int = 0
) -> tuple[int, Loc]:
    """How deep all/any/not nest in ``rule`` (a YAML value) and where it is deepest; the
    references it makes go to ``refs`` with the depth they are at."""
    if not isinstance(rule, dict):
        return 0, loc
    deepest: tuple[int, Loc] = (0, loc)
    if isinstance(rule.get("segment"), str):
        refs.append((rule["segment"], above, (*loc, "segment")))
    for form in COMBINATORS:
        if form not in rule:
            continue
        parts = rule[form] if form != "not" else [rule[form]]
        if not isinstance(parts, list):
            continue  # the rule parser says what is wrong
        if len(parts) > MAX_RULE_PARTS:
            mistake(
                source.error(
                    (*loc, form), f"{form} has {len(parts)} parts; at most {MAX_RULE_PARTS}"
                )
            )
        for i, part in enumerate(parts):
            at = (*loc, form, i) if form != "not" else (*loc, form)
            depth, where = _nesting(part, at, refs, source, above + 1)
            if depth + 1 > deepest[0]:
                deepest = (depth + 1, where)
    return deepest


def _check_references(config: Config) -> None:
    source = config.source
    instances = sorted(config.connectors)
    for name in config.connectors:
        if not NAME.match(name):
            mistake(
                source.error(
                    ("connectors", name),
                    f"bad instance name {name!r}: use letters, digits, _ and -",
                )
            )
    for name in config.segments:
        if not NAME.match(name):
            mistake(
                source.error(
                    ("segments", name), f"bad segment name {name!r}: use letters, digits, _ and -"
                )
            )
    broken = config._broken  # left out for their own mistake: not unknown
    for i, name in enumerate(config.precedence):
        if name not in config.connectors and name not in broken:
            mistake(
                source.error(("precedence", i), did_you_mean("connector instance", name, instances))
            )
    for name in config.webhooks.connectors:
        if name not in config.connectors and name not in broken:
            mistake(
                source.error(
                    ("webhooks", "connectors", name),
                    did_you_mean("connector instance", name, instances),
                )
            )
    seen: set[str] = set()
    for i, dest in enumerate(config.destinations):
        if dest.connector in broken:
            continue
        if dest.connector not in config.connectors:
            mistake(
                source.error(
                    ("destinations", i, "connector"),
                    did_you_mean("connector instance", dest.connector, instances),
                )
            )
        if dest.connector in seen:
            mistake(
                source.error(
                    ("destinations", i, "connector"),
                    f"connector instance {dest.connector!r} is already a destination above",
                )
            )
        seen.add(dest.connector)
        for section in ("tags", "lists"):
            for segment in getattr(dest, section):
                if segment not in config.segments:
                    mistake(
                        source.error(
                            ("destinations", i, section, segment),
                            did_you_mean("segment", segment, sorted(config.segments)),
                        )
                    )
        for remote, value in dest.fields.items():
            if not isinstance(value, ComputedValue):
                continue  # a contact field: checked against the fields known (runtime)
            for kind, known_names in (("score", config.scores), ("tier", config.tiers)):
                name = getattr(value, kind)
                if name is not None and name not in known_names:
                    mistake(
                        source.error(
                            ("destinations", i, "fields", remote, kind),
                            did_you_mean(kind, name, sorted(known_names)),
                        )
                    )
    for name, tier in config.tiers.items():
        for segment in tier.segments:
            if segment not in config.segments:
                mistake(
                    source.error(
                        ("tiers", name, "segments", segment),
                        did_you_mean("segment", segment, sorted(config.segments)),
                    )
                )
    destinations = [d.connector for d in config.destinations]
    for name, schedule in config.schedules.items():
        if not NAME.match(name):
            mistake(
                source.error(
                    ("schedules", name), f"bad schedule name {name!r}: use letters, digits, _ and -"
                )
            )
        for j, instance in enumerate(schedule.destinations):
            if instance not in destinations:
                mistake(
                    source.error(
                        ("schedules", name, "destinations", j),
                        f"{instance!r} is not a destination (destinations: "
                        f"{', '.join(destinations) or 'none'})",
                    )
                )
        for j, instance in enumerate(schedule.connectors):
            if instance not in config.connectors:
                mistake(
                    source.error(
                        ("schedules", name, "connectors", j),
                        did_you_mean("connector instance", instance, instances),
                    )
                )
