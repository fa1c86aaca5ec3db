"""Settings from the environment (prefix ``SYNCD_``), which override the YAML."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from syncd.errors import ConfigError

PREFIX = "SYNCD_"


class Settings(BaseSettings):
    """``SYNCD_CONFIG``, ``SYNCD_STORE_URL``, ``SYNCD_LOG_LEVEL``, ``SYNCD_LOG_FORMAT``."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

    config: str = "config/syncd.yaml"
    store_url: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] | None = None  # None: per command
    log_format: Literal["auto", "json", "console"] = "auto"
    trace_plugins: bool = False
    now: datetime | None = None  # a fixed time for the cycle clock (reproducible plans)

    @field_validator("now")
    @classmethod
    def _plausible(cls, value: datetime | None) -> datetime | None:
        # windows reach a century either side of now: years near 1 or 9999 overflow
        if value is not None and not 1970 <= value.year <= 2999:
            raise ValueError(f"a time between the years 1970 and 2999, got {value.isoformat()}")
        return value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


def load_settings() -> Settings:
    """The settings of this process; a bad ``SYNCD_*`` variable is one ConfigError line."""
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        name = PREFIX + "_".join(str(p) for p in error["loc"]).upper()
        if error["type"] == "value_error":  # our own validator names the value
            message = error["msg"].removeprefix("Value error, ")
            raise ConfigError(f"should be {message}", path=name) from None
        message = error["msg"].replace("Input should be", "should be")
        shown = repr(error.get("input"))
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ConfigError(f"{message} (got {shown})", path=name) from None
