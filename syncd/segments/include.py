"""``include:`` — segment, score, field and event-type definitions read from other files.

The prebuilt library (``config/segments/``) is brought in with one line; an entry the config
defines itself overrides the included one of the same name. Mistakes in an included file are
reported with that file's name and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syncd.yamlsource import SourceMap, load_yaml

SECTIONS = ("segments", "scores", "fields", "tiers")
ALLOWED = (*SECTIONS, "event_types")


def merge_includes(
    data: dict[str, Any], source: SourceMap, base_dir: Path, environ: dict[str, str] | None = None
) -> None:
    """Merge the files named by ``data['include']`` into ``data``, in place."""
    names = data.get("include")
    if names is None:
        return
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list):
        raise source.error(("include",), "include takes a list of files or folders")
    found: dict[tuple[str, str], str] = {}  # (section, name) -> the file that defined it
    merged: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    event_types: list[Any] = []
    for i, name in enumerate(names):
        for path in _files(name, base_dir, source, i):
            included, where = load_yaml(path, environ)
            if included is None:
                continue
            if not isinstance(included, dict):
                raise where.error((), "an included file is a mapping of segments, scores, ...")
            for key in included:
                if key not in ALLOWED:
                    raise where.error(
                        (key,), f"unknown key {key!r} in an included file ({', '.join(ALLOWED)})"
                    )
            for section in SECTIONS:
                entries = included.get(section) or {}
                if not isinstance(entries, dict):
                    raise where.error((section,), f"{section} takes a mapping of name: definition")
                for entry, body in entries.items():
                    if (section, entry) in found:
                        raise where.error(
                            (section, entry),
                            f"{section[:-1]} {entry!r} is defined twice: also in "
                            f"{found[(section, entry)]}",
                        )
                    found[(section, entry)] = where.file
                    merged[section][entry] = body
                    source.included[(section, entry)] = where
            types = included.get("event_types") or []
            if not isinstance(types, list):
                raise where.error(("event_types",), "event_types takes a list of names")
            event_types += types
    for section in SECTIONS:
        own = data.get(section) or {}
        if not isinstance(own, dict):
            continue  # the config's own validation reports it
        for entry in own:
            source.included.pop((section, entry), None)  # the config's own entry wins
        data[section] = {**merged[section], **own}
    own_types = data.get("event_types") or []
    if isinstance(own_types, list):
        data["event_types"] = [*event_types, *own_types]


def _files(name: Any, base_dir: Path, source: SourceMap, i: int) -> list[Path]:
    if not isinstance(name, str) or not name.strip():
        raise source.error(("include", i), f"include takes file or folder names, got {name!r}")
    path = Path(name).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        if not files:
            raise source.error(("include", i), f"no .yaml files in folder {name!r}")
        return files
    if not path.is_file():
        raise source.error(("include", i), f"included file not found: {name!r}")
    return [path]
