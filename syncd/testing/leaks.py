"""Everything a connector says while the suite watches it, to look for secrets in: structlog
events as the connector handed them over (before syncd's redaction, which is a safety net,
not the way to keep a secret), standard logging records, and the text of errors."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any

import structlog

# libraries whose logging syncd never turns on: their lines reach no log of the daemon
QUIET_LOGGERS = ("httpx", "httpcore", "hpack", "asyncio")


class Said:
    """What was said: one text per log line or error."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        """Capture every structlog event at every level, and every standard logging record,
        while the block runs."""
        config = structlog.get_config()
        processors = config["processors"]
        saved, wrapper = list(processors), config["wrapper_class"]

        def capture(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Any:
            self.texts.append(json.dumps(dict(event), default=repr, sort_keys=True))
            raise structlog.DropEvent

        handler = _Records(self)
        root = logging.getLogger()
        level = root.level
        # the processors list is changed in place: bound loggers hold on to it
        processors[:] = [structlog.contextvars.merge_contextvars, capture]
        structlog.configure(
            processors=processors, wrapper_class=structlog.make_filtering_bound_logger(0)
        )
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        try:
            yield
        finally:
            root.setLevel(level)
            root.removeHandler(handler)
            processors[:] = saved
            structlog.configure(processors=processors, wrapper_class=wrapper)

    def error(self, exc: BaseException) -> None:
        """Note an error's text, and the text of the errors it came from."""
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            self.texts.append(f"{type(current).__name__}: {current}")
            current = current.__cause__ or current.__context__

    def text(self, value: str | None) -> None:
        """Note a text the connector produced (a change's reason, a quarantine reason)."""
        if value:
            self.texts.append(value)

    def showing(self, secrets: Iterable[str]) -> list[str]:
        """The texts that show one of ``secrets``, each with the secret masked."""
        wanted = [s for s in secrets if s]
        found: list[str] = []
        for text in self.texts:
            hits = [s for s in wanted if s in text]
            if hits:
                for secret in hits:
                    text = text.replace(secret, f"<secret {secret[:2]}…>")
                found.append(text[:300])
        return found


class _Records(logging.Handler):
    def __init__(self, said: Said) -> None:
        super().__init__(logging.DEBUG)
        self.said = said

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in QUIET_LOGGERS:
            return
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]}"
        self.said.texts.append(f"{record.name}: {text}")
