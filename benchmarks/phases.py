"""Where a run's wall time goes, phase by phase: the functions a benchmark times are wrapped
so that each call adds its seconds to its phase's sum."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def timed(fn: Callable[P, R], seconds: dict[str, float], phase: str) -> Callable[P, R]:
    """``fn``, adding the wall seconds of each call (one that raises too) to
    ``seconds[phase]``."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[phase] = seconds.get(phase, 0.0) + time.perf_counter() - started

    return wrapper
