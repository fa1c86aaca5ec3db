"""A reviewed plan kept in a file (``syncd plan --out FILE``) and applied exactly
(``syncd push --plan FILE``).

The file holds the diff as ``syncd plan --json`` shows it, the changes to apply, and what the
plan was made against: a digest of the config's connectors and destinations, the id of the
compute it read, how many contacts had changed data not yet computed, and a digest of each
destination's open outbox. A plan is refused, in one line, when the store computed since,
when a pull brought changed data since, when the outbox changed since, when the config is
another, or when the file is not such a plan or was edited (each destination's changes carry
their digest).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from syncd.config import Config
from syncd.connectors.contract import ChangeKind
from syncd.errors import ConfigError
from syncd.output import emit_json
from syncd.runtime import Runtime
from syncd.store.schema import changed_contacts
from syncd.sync.outbox import write_plan
from syncd.sync.plan import (
    DestinationPlan,
    PlannedChange,
    changes_digest,
    digest,
    last_compute,
    outbox_digest,
)

FORMAT = "syncd-plan/1"
KINDS = {k.value for k in ChangeKind}


def config_digest(config: Config) -> str:
    """What a plan depends on in the config: the connector instances and the destinations."""
    return digest(
        {
            "connectors": {name: c.type for name, c in config.connectors.items()},
            "destinations": [d.model_dump(mode="json") for d in config.destinations],
        }
    )


def document(
    conn: sa.Connection,
    config: Config,
    plans: Sequence[DestinationPlan],
    diff: Sequence[dict[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """The plan file's content for ``plans`` (``diff`` is their diff data, shown again to
    whoever reads the file)."""
    names = [p.destination for p in plans]
    return {
        "format": FORMAT,
        "planned_at": now.isoformat(),
        "config": str(config.source.file),
        "config_digest": config_digest(config),
        "compute": last_compute(conn),
        "changed_contacts": changed_count(conn),
        "outbox_digest": outbox_digest(conn, names),
        "destinations": [
            {
                **shown,
                "digest": changes_digest(p),
                "apply": [list(c.identity) for c in p.changes],
            }
            for p, shown in zip(plans, diff, strict=True)
        ],
    }


def write(path: Path, content: dict[str, Any]) -> None:
    try:
        with path.open("w", encoding="utf-8") as out:
            emit_json(content, out)
    except OSError as exc:
        raise ConfigError(f"--out {path}: cannot write it: {exc.strerror or exc}") from None


def load(path: Path, config: Config) -> tuple[dict[str, Any], list[DestinationPlan]]:
    """The plan file and its plans, checked to be whole and made with this config."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--plan {path}: cannot read it: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"--plan {path}: not a syncd plan: not JSON ({exc})") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ConfigError(
            f'--plan {path}: not a syncd plan (no "format": "{FORMAT}"); '
            "write one with syncd plan --out FILE"
        )
    if content.get("config_digest") != config_digest(config):
        raise ConfigError(
            f"--plan {path}: made with another config ({content.get('config')}); its "
            f"connectors or destinations differ from {config.source.file}'s"
        )
    destinations = content.get("destinations")
    if not isinstance(destinations, list):
        raise ConfigError(f"--plan {path}: not a syncd plan: no list of destinations")
    known = {d.connector for d in config.destinations}
    return content, [_plan(path, i, d, known) for i, d in enumerate(destinations)]


def _plan(path: Path, i: int, dest: Any, known: set[str]) -> DestinationPlan:
    where = f"--plan {path}: destinations[{i}]"
    if not isinstance(dest, dict) or not isinstance(dest.get("apply"), list):
        raise ConfigError(f'{where}: not a destination\'s plan (no "apply" list)')
    name = dest.get("destination")
    if name not in known:
        raise ConfigError(f"{where}: {name!r} is not a destination of this config")
    changes = []
    for j, change in enumerate(dest["apply"]):
        if not (
            isinstance(change, list)
            and len(change) == 4
            and isinstance(change[0], int)
            and change[1] in KINDS
            and isinstance(change[2], str)
            and (change[3] is None or isinstance(change[3], str))
        ):
            raise ConfigError(
                f"{where}.apply[{j}]: not a change [contact id, kind, key, value]: {change!r}"
            )
        changes.append(PlannedChange(change[0], ChangeKind(change[1]), change[2], change[3]))
    plan = DestinationPlan(
        str(name), sorted(changes), held=bool(dest.get("held")), reason=dest.get("reason")
    )
    if dest.get("digest") != changes_digest(plan):
        raise ConfigError(
            f"{where} ({name}): its changes do not match their digest: the file was edited "
            "or damaged; write it again with syncd plan --out FILE"
        )
    return plan


def check(rt: Runtime, path: Path) -> list[DestinationPlan]:
    """The plans in ``path``, when the file is whole, of this config and not stale."""
    content, plans = load(path, rt.config)
    with rt.engine.connect() as conn:
        _fresh(conn, path, content, plans)
    return plans


def apply(rt: Runtime, path: Path, run_id: str) -> list[DestinationPlan]:
    """Check that the plan in ``path`` is still the plan of this store, and queue exactly its
    changes in the outbox, in one transaction (nothing computes or queues in between)."""
    content, plans = load(path, rt.config)
    with rt.engine.begin() as conn:
        _fresh(conn, path, content, plans)
        for plan in plans:
            write_plan(conn, plan, run_id, rt.clock())
    return plans


def _fresh(
    conn: sa.Connection, path: Path, content: dict[str, Any], plans: Sequence[DestinationPlan]
) -> None:
    stale = staleness(conn, content, [p.destination for p in plans])
    if stale:
        raise ConfigError(
            f"--plan {path}: stale: {stale}; review it again with syncd plan --out {path}"
        )


def changed_count(conn: sa.Connection) -> int:
    """How many contacts have data changed since the last compute (a pull marks them)."""
    return conn.execute(sa.select(sa.func.count()).select_from(changed_contacts)).scalar_one()


def staleness(conn: sa.Connection, content: dict[str, Any], names: Sequence[str]) -> str | None:
    """Why a plan made against ``content``'s store state no longer holds, or None."""
    made, now = content.get("compute"), last_compute(conn)
    if now != made:
        at = now["at"] if now else "never"
        when = made["at"] if isinstance(made, dict) else "?"
        return (
            f"the segments were computed again since it was made (the last compute at {at}; "
            f"the plan read the one at {when})"
        )
    if outbox_digest(conn, names) != content.get("outbox_digest"):
        return "the outbox changed since it was made (a sync, a push or another plan queued)"
    changed = changed_count(conn)
    if changed != content.get("changed_contacts"):
        return (
            f"data was pulled since it was made ({changed} contacts changed since the compute "
            "it read)"
        )
    return None
