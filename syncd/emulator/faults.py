"""Fault injection for emulators: what can go wrong, for which route, drawn from a seeded RNG.

A spec is one or more rules separated by ``;``. A rule is an optional route (``[METHOD ]GLOB``
followed by ``:``) and comma-separated settings::

    429=0.2,5xx=0.1,latency=50ms,drop=0.05,malformed=0.05
    latency=5ms;POST /api/3/contactTags*:5xx=0.5,drop_after=0.1

Settings: ``429``, ``5xx``, ``drop`` (connection closed before the request is handled),
``drop_after`` (handled, then the connection is closed before the answer arrives),
``5xx_after`` (handled, then answered 500, 502 or 504, as a gateway that lost the answer
would),
``malformed`` (handled, answer body garbled) are shares in [0, 1]; ``latency`` is a duration
or a range ``10ms..80ms``; ``retry_after`` is the seconds an injected 429 asks to wait.
Rules apply in order; a later matching rule overrides the settings it names.
"""

from __future__ import annotations

import fnmatch
import random
import re
from dataclasses import dataclass, field, replace
from typing import Any

SHARES = {
    "429": "too_many",
    "5xx": "server_error",
    "drop": "drop",
    "drop_after": "drop_after",
    "5xx_after": "server_error_after",
    "malformed": "malformed",
}
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)?$")


class FaultSpecError(ValueError):
    """A fault spec that cannot be parsed; the message says which part and why."""


@dataclass(frozen=True, slots=True)
class Faults:
    """The faults that apply to one request."""

    too_many: float = 0.0
    server_error: float = 0.0
    drop: float = 0.0
    drop_after: float = 0.0
    server_error_after: float = 0.0
    malformed: float = 0.0
    latency: tuple[float, float] = (0.0, 0.0)  # seconds, uniform between the two
    retry_after: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {key: getattr(self, attr) for key, attr in SHARES.items()}
        out["latency_ms"] = [round(x * 1000, 3) for x in self.latency]
        out["retry_after"] = self.retry_after
        return out


@dataclass(frozen=True, slots=True)
class FaultRule:
    """Settings for the requests whose method and path match."""

    settings: dict[str, Any]
    method: str | None = None
    pattern: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.pattern is None or fnmatch.fnmatchcase(path, self.pattern)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the RNG decided for one request."""

    latency: float = 0.0
    drop: bool = False
    too_many: bool = False
    server_error: int | None = None  # the status to answer with
    drop_after: bool = False
    server_error_after: int | None = None  # handled, then answered with this status
    malformed: bool = False
    retry_after: float = 1.0


@dataclass
class FaultPlan:
    """The fault rules of an emulator and the seeded RNG that draws from them."""

    rules: list[FaultRule] = field(default_factory=list)
    spec: str = ""
    seed: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    @classmethod
    def parse(cls, spec: str | None, seed: int = 0) -> FaultPlan:
        """Parse a spec string (see the module docstring); empty or None means no faults."""
        spec = (spec or "").strip()
        rules = [_parse_rule(part.strip()) for part in spec.split(";") if part.strip()]
        return cls(rules=rules, spec=spec, seed=seed)

    def for_request(self, method: str, path: str) -> Faults:
        """The settings that apply to this request."""
        faults = Faults()
        for rule in self.rules:
            if rule.matches(method, path):
                faults = replace(faults, **rule.settings)
        return faults

    def decide(self, method: str, path: str) -> Decision:
        """Draw this request's faults. The draws are the same in number whatever applies,
        so one seed and one sequence of requests always give the same faults."""
        f = self.for_request(method, path)
        draws = [self.rng.random() for _ in range(7)]
        low, high = f.latency
        # the answer lost after handling: dropped, or else a 5xx (one draw shared by the two)
        after = draws[4] - f.drop_after
        return Decision(
            latency=low + (high - low) * draws[0],
            drop=draws[1] < f.drop,
            too_many=draws[2] < f.too_many,
            server_error=(500, 502, 503, 504)[int(draws[6] * 4)]
            if draws[3] < f.server_error
            else None,
            drop_after=after < 0,
            server_error_after=(500, 502, 504)[int(draws[6] * 3)]
            if 0 <= after < f.server_error_after
            else None,
            malformed=draws[5] < f.malformed,
            retry_after=f.retry_after,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "seed": self.seed,
            "rules": [
                {"method": r.method, "route": r.pattern, "settings": _jsonable(r.settings)}
                for r in self.rules
            ],
        }


def _parse_rule(text: str) -> FaultRule:
    method: str | None = None
    pattern: str | None = None
    settings_text = text
    head, sep, tail = text.rpartition(":")
    if sep and "=" not in head:
        route = head.strip()
        settings_text = tail
        first, _, rest = route.partition(" ")
        if first.upper() in METHODS:
            method, route = first.upper(), rest.strip()
        pattern = route or None
    settings: dict[str, Any] = {}
    for item in settings_text.split(","):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not eq:
            raise FaultSpecError(f"fault {item.strip()!r}: write NAME=VALUE")
        if key in SHARES:
            settings[SHARES[key]] = _share(key, value)
        elif key == "latency":
            low, _, high = value.partition("..")
            lo = _seconds(key, low)
            settings["latency"] = (lo, _seconds(key, high) if high else lo)
        elif key == "retry_after":
            settings["retry_after"] = _seconds(key, value if value[-1:].isalpha() else value + "s")
        else:
            known = ", ".join([*SHARES, "latency", "retry_after"])
            raise FaultSpecError(f"unknown fault {key!r} (known: {known})")
    return FaultRule(settings=settings, method=method, pattern=pattern)


def _share(key: str, value: str) -> float:
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise FaultSpecError(f"fault {key}={value!r}: write a share between 0 and 1")
    return share


def _seconds(key: str, value: str) -> float:
    match = _DURATION.match(value.strip())
    if not match:
        raise FaultSpecError(f"fault {key}={value!r}: write a duration such as 50ms or 1.5s")
    number = float(match.group(1))
    return number / 1000 if match.group(2) == "ms" else number


def _jsonable(settings: dict[str, Any]) -> dict[str, Any]:
    names = {attr: key for key, attr in SHARES.items()}
    out: dict[str, Any] = {}
    for attr, value in settings.items():
        out[names.get(attr, attr)] = list(value) if isinstance(value, tuple) else value
    return out


__all__ = ["Decision", "FaultPlan", "FaultRule", "FaultSpecError", "Faults"]
