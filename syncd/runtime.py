"""Everything one configuration needs at run time: plugins, connector instances, rules, store."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from syncd.clock import Clock, system_clock
from syncd.config import Config, validate_model
from syncd.connectors.contract import Connector, ConnectorContext, Destination, Stream
from syncd.errors import ConfigError, PluginError, error_line
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


def build_runtime(config: Config, *, clock: Clock = system_clock) -> Runtime:
    """Load plugins, validate each instance's options and every rule: ConfigError on a mistake."""
    source = config.source
    plugins_dir = config.base_dir / config.plugins_dir if config.plugins_dir else None
    if plugins_dir is not None and not plugins_dir.is_dir():
        raise source.error(("plugins_dir",), f"plugins folder {plugins_dir} does not exist")
    plugins = get_plugin_manager(plugins_dir)
    try:
        registry = plugins.connectors()
    except PluginError as exc:
        raise ConfigError(str(exc), file=source.file) from None
    known = ", ".join(sorted(registry)) or "none"
    connectors: dict[str, Connector] = {}
    for name, instance in config.connectors.items():
        cls = registry.get(instance.type)
        if cls is None:
            raise source.error(
                ("connectors", name, "type"),
                f"unknown connector type {instance.type!r} (known: {known})",
            )
        unset = [v for loc, v in source.unset.items() if loc[:2] == ("connectors", name)]
        try:
            options = validate_model(
                cls.Options, instance.options(), source, at=("connectors", name)
            )
        except ConfigError:
            if not unset:
                raise
            # its options hold a secret not set here: known by its type, never opened
            connectors[name] = Unopened(cls, name, unset)
            continue
        context = ConnectorContext(instance=name, base_dir=config.base_dir, clock=clock)
        try:
            connectors[name] = cls(options, context)
        except (ValueError, OSError) as exc:
            raise source.error(("connectors", name), str(exc)) from None
        except Exception as exc:  # a plugin's own error for options its model let through
            raise source.error(("connectors", name), _refused(instance.type, exc)) from None
    for i, dest in enumerate(config.destinations):
        if isinstance(connectors[dest.connector], Unopened):
            continue  # what it receives is known when it opens, with its secrets
        try:
            receives = connectors[dest.connector].destination() is not None
        except Exception as exc:
            kind = config.connectors[dest.connector].type
            raise source.error(("connectors", dest.connector), _refused(kind, exc)) from None
        if not receives:
            kind = config.connectors[dest.connector].type
            raise source.error(
                ("destinations", i, "connector"),
                f"connector instance {dest.connector!r} (type {kind}) cannot receive changes "
                "as configured",
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
                known = ", ".join(sorted(catalog.event_types))
                raise source.error(
                    ("connectors", name, "skip_events", i),
                    f"unknown event type {kind!r} (known: {known})",
                )
    scores = parse_scores(config.scores, source, catalog)
    rules = parse_segments(config.segments, source, catalog, scores=list(scores))
    return Runtime(config, plugins, connectors, rules, clock, scores=scores)


class Unopened(Connector):
    """A connector instance whose options need a secret this environment does not set: its
    type's fields and event types are known (for segments and status), but using it is an
    error naming the variables."""

    def __init__(self, cls: type[Connector], instance: str, unset: list[str]) -> None:
        self.name = cls.name  # type: ignore[misc]
        self.fields = cls.fields  # type: ignore[misc]
        self.event_types = cls.event_types  # type: ignore[misc]
        self.instance = instance
        self.unset = unset

    def _refuse(self) -> ConfigError:
        names = ", ".join(self.unset)
        return ConfigError(
            f"connector instance {self.instance!r} needs the environment variable"
            f"{'s' if len(self.unset) > 1 else ''} {names}, not set"
        )

    def streams(self) -> list[Stream]:
        raise self._refuse()

    def destination(self) -> Destination | None:
        raise self._refuse()

    def check_connection(self) -> None:
        raise self._refuse()

    def close(self) -> None:
        pass


def _refused(kind: str, exc: Exception) -> str:
    return f"the {kind} connector refuses these options: {error_line(exc)}"
