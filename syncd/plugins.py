"""Finding plugins: the ``syncd`` entry-point group and the ``.py`` files of a plugins folder."""

from __future__ import annotations

import difflib
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pluggy
import structlog

from syncd import hookspecs
from syncd.connectors.contract import Connector
from syncd.errors import PluginError
from syncd.settings import Settings, load_settings

log = structlog.get_logger("syncd.plugins")

ENTRY_POINT_GROUP = "syncd"


@dataclass
class PluginFailure:
    """A plugin that could not be loaded, reported and skipped."""

    name: str
    error: str


@dataclass
class Plugins:
    """The plugin manager with what was found and what failed to load."""

    manager: pluggy.PluginManager
    origins: dict[str, str] = field(default_factory=dict)  # plugin name -> where it came from
    failures: list[PluginFailure] = field(default_factory=list)

    @property
    def hook(self) -> Any:
        return self.manager.hook

    def connectors(self) -> dict[str, type[Connector]]:
        """Connector classes by their ``type`` name; a name given twice is an error."""
        found: dict[str, type[Connector]] = {}
        for classes in self.manager.hook.syncd_connectors():
            if not isinstance(classes, list | tuple):
                raise PluginError(
                    f"syncd_connectors returned {classes!r}, not a list of Connector classes"
                )
            for cls in classes:
                if not (isinstance(cls, type) and issubclass(cls, Connector)):
                    raise PluginError(
                        f"syncd_connectors returned {cls!r}, which is not a Connector class"
                    )
                if cls.name in found and found[cls.name] is not cls:
                    raise PluginError(
                        f"connector type {cls.name!r} is registered twice: by "
                        f"{self.origin_of(found[cls.name])} and by {self.origin_of(cls)}"
                    )
                found[cls.name] = cls
        return found

    def origin_of(self, cls: type) -> str:
        """Where the plugin that defines ``cls`` came from."""
        for name, plugin in self.manager.list_name_plugin():
            module = getattr(plugin, "__name__", "")
            if module and (cls.__module__ == module or cls.__module__.startswith(module + ".")):
                return self.origins.get(name, module)
        return cls.__module__

    def emulators(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for found in self.manager.hook.syncd_emulators():
            merged.update(found)
        return merged

    def webhook_receivers(self) -> dict[str, Any]:
        """Webhook receiver factories by connector type; one that is not callable is an
        error, and so is one type given twice."""
        merged: dict[str, Any] = {}
        for found in self.manager.hook.syncd_webhook_receivers():
            if not isinstance(found, dict):
                raise PluginError(
                    f"syncd_webhook_receivers returned {found!r}, not a mapping of receivers"
                )
            for kind, factory in found.items():
                if not callable(factory):
                    raise PluginError(
                        f"syncd_webhook_receivers gave {factory!r} for {kind!r}, "
                        "which is not a receiver class or factory"
                    )
                if kind in merged and merged[kind] is not factory:
                    raise PluginError(f"webhook receiver for {kind!r} is registered twice")
                merged[kind] = factory
        return merged


def get_plugin_manager(
    plugins_dir: str | Path | None = None, *, settings: Settings | None = None
) -> Plugins:
    """A new plugin manager with the entry-point plugins and those of ``plugins_dir``."""
    manager = pluggy.PluginManager("syncd")
    manager.add_hookspecs(hookspecs)
    plugins = Plugins(manager)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            module = ep.load()
            manager.register(module, name=ep.name)
            plugins.origins[ep.name] = f"entry point {ep.value} ({_dist_name(ep)})"
        except Exception as exc:
            _failed(plugins, ep.name, exc)
    if plugins_dir is not None:
        _load_folder(plugins, Path(plugins_dir))
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise _unknown_hook(plugins, exc) from None
    if (settings or load_settings()).trace_plugins:
        _trace(manager)
    return plugins


def _load_folder(plugins: Plugins, folder: Path) -> None:
    if not folder.is_dir():
        _failed(plugins, str(folder), FileNotFoundError("plugins folder not found"))
        return
    for path in sorted(folder.glob("*.py")):
        name = f"syncd_local_plugin_{path.stem}"
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            plugins.manager.register(module, name=path.stem)
            plugins.origins[path.stem] = f"plugins folder {path}"
        except Exception as exc:
            sys.modules.pop(name, None)
            _failed(plugins, str(path), exc)


def _unknown_hook(plugins: Plugins, exc: pluggy.PluginValidationError) -> PluginError:
    """One line naming the plugin, where it came from, the hook, and the nearest known hook."""
    name = plugins.manager.get_name(exc.plugin) or repr(exc.plugin)
    origin = plugins.origins.get(name, "")
    where = f"plugin {name!r}" + (f" ({origin})" if origin else "")
    found = re.search(r"unknown hook '(\w+)'", str(exc))
    if found is None:
        return PluginError(f"{where}: {' '.join(str(exc).split())}")
    hook = found.group(1)
    known = sorted(n for n in dir(hookspecs) if n.startswith("syncd_"))
    near = difflib.get_close_matches(hook, known, n=1)
    hint = f"did you mean {near[0]}?" if near else f"known hooks: {', '.join(known)}"
    return PluginError(f"{where}: unknown hook {hook!r}; {hint}")


def _failed(plugins: Plugins, name: str, exc: BaseException) -> None:
    error = " ".join(f"{type(exc).__name__}: {exc}".split())
    plugins.failures.append(PluginFailure(name, error))
    log.error("plugin failed to load; skipped", plugin=name, error=error)


def _dist_name(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "unknown package"


def _trace(manager: pluggy.PluginManager) -> None:
    def before(hook_name: str, hook_impls: Any, kwargs: Any) -> None:
        log.info("hook call", hook=hook_name, plugins=[impl.plugin_name for impl in hook_impls])

    def after(outcome: Any, hook_name: str, hook_impls: Any, kwargs: Any) -> None:
        log.info("hook result", hook=hook_name, result=repr(outcome.get_result())[:200])

    manager.add_hookcall_monitoring(before, after)
