"""Everything one configuration needs at run time: plugins, connector instances, rules, store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from syncd.clock import Clock, system_clock
from syncd.config import Config, collecting_now, mistake, validation_errors
from syncd.connectors.contract import (
    Change,
    ChangeKind,
    ChangeResult,
    Connector,
    ConnectorContext,
    Destination,
    Stream,
)
from syncd.errors import ConfigError, PluginError, did_you_mean, error_line
from syncd.plugins import Plugins, get_plugin_manager
from syncd.segments.catalog import Catalog
from syncd.segments.rules import Rule, parse_segments
from syncd.segments.scores import ScoreModel, parse_scores
from syncd.store import open_store


@dataclass
class Runtime:
    config: Config
    plugins: Plugins
    connectors: dict[str, Connector]
    rules: dict[str, Rule]
    clock: Clock = system_clock
    scores: dict[str, ScoreModel] = field(default_factory=dict)
    full_compute: bool = False  # compute every contact again, not only what changed
    _engine: sa.Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> sa.Engine:
        """The store, opened (and migrated) on first use."""
        if self._engine is None:
            store = self.config.store
            self._engine = open_store(store.url, busy_timeout=store.busy_timeout.total_seconds())
        return self._engine

    def destinations(self) -> list[str]:
        return [d.connector for d in self.config.destinations]

    def close(self) -> None:
        for connector in self.connectors.values():
            connector.close()
        if self._engine is not None:
            self._engine.dispose()


def build_runtime(
    config: Config,
    *,
    clock: Clock = system_clock,
    sleep: Callable[[str, Callable[[float], None]], Callable[[float], None]] | None = None,
) -> Runtime:
    """Load plugins, validate each instance's options and every rule: ConfigError on a mistake.
    ``sleep(instance, its_sleep)``, when given, wraps how that instance waits (the shell shows
    long waits)."""
    source = config.source
    plugins_dir = config.base_dir / config.plugins_dir if config.plugins_dir else None
    if plugins_dir is not None and not plugins_dir.is_dir():
        raise source.error(("plugins_dir",), f"plugins folder {plugins_dir} does not exist")
    plugins = get_plugin_manager(plugins_dir)
    try:
        registry = plugins.connectors()
    except PluginError as exc:
        raise ConfigError(str(exc), file=source.file) from None
    connectors: dict[str, Connector] = {}
    for name, instance in config.connectors.items():
        cls = registry.get(instance.type)
        if cls is None:
            mistake(
                source.error(("connectors", name, "type"), unknown_type(instance.type, plugins))
            )
            continue
        unset = [v for loc, v in source.unset.items() if loc[:2] == ("connectors", name)]
        try:
            options = cls.Options.model_validate(instance.options())
        except ValidationError as exc:
            if unset:  # its options hold a secret not set here: known by its type, not opened
                kinds = _change_kinds_unopened(cls, instance.options(), name, config)
                connectors[name] = Unopened(cls, name, unset, kinds)
            else:
                for error in validation_errors(exc, source, ("connectors", name)):
                    mistake(error)
            continue
        context = ConnectorContext(instance=name, base_dir=config.base_dir, clock=clock)
        if sleep is not None:  # wraps the context's own sleep: it pairs with its monotonic
            context.sleep = sleep(name, context.sleep)
        try:
            connectors[name] = cls(options, context)
        except (ValueError, OSError) as exc:
            mistake(source.error(("connectors", name), str(exc)))
        except Exception as exc:  # a plugin's own error for options its model let through
            mistake(source.error(("connectors", name), _refused(instance.type, exc)))
    for i, dest in enumerate(config.destinations):
        connector = connectors.get(dest.connector)
        if connector is None or isinstance(connector, Unopened):
            continue  # said above; or what it receives is known when it opens
        kind = config.connectors[dest.connector].type
        try:
            receives = connector.destination() is not None
        except Exception as exc:
            mistake(source.error(("connectors", dest.connector), _refused(kind, exc)))
            continue
        if not receives:
            mistake(
                source.error(
                    ("destinations", i, "connector"),
                    f"connector instance {dest.connector!r} (type {kind}) cannot receive "
                    "changes as configured",
                )
            )
    catalog = Catalog(instances=set(config.connectors))
    catalog.add_fields(config.fields)
    catalog.add_event_types(config.event_types)
    for connector in connectors.values():
        catalog.add_fields(connector.fields)
        catalog.add_event_types(connector.event_types)
    for name, instance in config.connectors.items():
        for i, kind in enumerate(instance.skip_events):
            if kind not in catalog.event_types:
                mistake(
                    source.error(
                        ("connectors", name, "skip_events", i),
                        did_you_mean("event type", kind, sorted(catalog.event_types)),
                    )
                )
    if len(connectors) == len(config.connectors):  # else a left-out one may declare it
        _check_mapped_fields(config, catalog)
    scores = parse_scores(config.scores, source, catalog)
    rules = _segments(config, catalog, list(scores))
    return Runtime(config, plugins, connectors, rules, clock, scores=scores)


def _check_mapped_fields(config: Config, catalog: Catalog) -> None:
    """A destination field mapped from a contact field names a field rules may read:
    built in, declared under ``fields:`` or by a connector."""
    for i, dest in enumerate(config.destinations):
        for remote, local in dest.fields.items():
            if isinstance(local, str) and catalog.field_type(local) is None:
                mistake(
                    config.source.error(
                        ("destinations", i, "fields", remote),
                        did_you_mean("field", local, sorted(catalog.fields))
                        + " (declare it under fields:)",
                    )
                )


def unknown_type(kind: str, plugins: Plugins) -> str:
    """``unknown connector type 'x' (known: ...)``, naming a plugin that failed to import:
    the one of that name, or every one (any could have been the type's)."""
    known = ", ".join(sorted(plugins.connectors())) or "none"
    failed = [f for f in plugins.failures if _plugin_stem(f.name) == kind] or plugins.failures
    if not failed:
        return did_you_mean("connector type", kind, sorted(plugins.connectors()))
    said = "; ".join(
        f"the plugin {_plugin_stem(f.name)!r} failed to import: {f.error}" for f in failed
    )
    return f"unknown connector type {kind!r} ({said}; known: {known})"


def _plugin_stem(name: str) -> str:
    """A plugin's name as its user knows it: an entry point's name, a plugin file's stem."""
    return name.rsplit("/", 1)[-1].removesuffix(".py")


def _segments(config: Config, catalog: Catalog, scores: list[str]) -> dict[str, Rule]:
    """The segments' rules. When collecting, a segment with a mistake is noted and left out
    and the rest parsed again, so each segment's first mistake is said (a segment naming a
    left-out one is not said twice)."""
    bodies = dict(config.segments)
    left_out: set[str] = set()
    while True:
        try:
            return parse_segments(bodies, config.source, catalog, scores=scores)
        except ConfigError as exc:
            parts = exc.path.split(".")
            name = parts[1].split("[")[0] if len(parts) > 1 and parts[0] == "segments" else None
            if not collecting_now() or name not in bodies:
                raise
            if not any(f"segment {n!r}" in exc.message for n in left_out):
                mistake(exc)
            del bodies[name]
            left_out.add(name)


def _change_kinds_unopened(
    cls: type[Connector], options: dict[str, Any], instance: str, config: Config
) -> frozenset[ChangeKind] | None:
    """The change kinds an instance's destination takes, read from one built on its options
    as written (secrets not set left as ``${NAME}``) and never sent through; None when it
    cannot be built so, or takes no changes."""
    context = ConnectorContext(instance=instance, base_dir=config.base_dir)
    try:
        stand_in = cls(cls.Options.model_construct(**options), context)
        try:
            target = stand_in.destination()
            return None if target is None else target.change_kinds
        finally:
            stand_in.close()
    except Exception:  # a connector that needs its real options to be built: not known
        return None


class _Unsendable(Destination):
    """What an unopened instance's destination takes, for a plan on stored data; sending
    to it is the unopened instance's error."""

    def __init__(self, kinds: frozenset[ChangeKind], refusal: ConfigError) -> None:
        self.change_kinds = kinds  # type: ignore[misc]
        self.refusal = refusal

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        raise self.refusal


class Unopened(Connector):
    """A connector instance whose options need a secret this environment does not set: its
    type's fields and event types are known (for segments and status), and the change kinds
    its destination takes (for ``plan --no-pull``), but using it is an error naming the
    variables."""

    def __init__(
        self,
        cls: type[Connector],
        instance: str,
        unset: list[str],
        kinds: frozenset[ChangeKind] | None = None,
    ) -> None:
        self.name = cls.name  # type: ignore[misc]
        self.fields = cls.fields  # type: ignore[misc]
        self.event_types = cls.event_types  # type: ignore[misc]
        self.instance = instance
        self.unset = unset
        self.kinds = kinds

    def _refuse(self) -> ConfigError:
        names = ", ".join(self.unset)
        return ConfigError(
            f"connector instance {self.instance!r} needs the environment variable"
            f"{'s' if len(self.unset) > 1 else ''} {names}, not set"
        )

    def streams(self) -> list[Stream]:
        raise self._refuse()

    def destination(self) -> Destination | None:
        if self.kinds is None:
            raise self._refuse()
        return _Unsendable(self.kinds, self._refuse())

    def check_connection(self) -> None:
        raise self._refuse()

    def close(self) -> None:
        pass


def _refused(kind: str, exc: Exception) -> str:
    return f"the {kind} connector refuses these options: {error_line(exc)}"
