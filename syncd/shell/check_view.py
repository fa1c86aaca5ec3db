"""``syncd check``: every mistake of a config in one run, each as ``file:line: path: what``,
in the order of the file — not one a run."""

from __future__ import annotations

import sys
from collections.abc import Callable

from syncd.config import collecting, mistake
from syncd.errors import ConfigError
from syncd.runtime import Runtime
from syncd.secrets import redact


class Mistakes(ConfigError):
    """Several mistakes, said already; ``syncd check`` exits 2 on them."""

    said = True

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} mistakes in the config")
        self.count = count


def checked_runtime(build: Callable[[], Runtime]) -> Runtime:
    """The runtime ``build`` makes, with its segments' SQL checked; when anything is wrong,
    each mistake is written to stderr (one line each) and :class:`Mistakes` raised."""
    from syncd.segments.compile import Compiler

    rt: Runtime | None = None
    with collecting() as found:
        try:
            rt = build()
            if not found:
                Compiler(rt.rules, rt.clock(), rt.scores).check_sql(rt.engine, rt.config.source)
        except ConfigError as exc:  # the mistake that ended the check (a YAML error ...)
            mistake(exc)
    if not found:
        assert rt is not None
        return rt
    if rt is not None:
        rt.close()
    for error in sorted(found, key=lambda e: (e.file or "", e.line or 0)):
        sys.stderr.write(redact(str(error)) + "\n")
    raise Mistakes(len(found))
