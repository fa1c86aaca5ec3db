"""Settings from the environment (prefix ``SYNCD_``), which override the YAML."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """``SYNCD_CONFIG``, ``SYNCD_STORE_URL``, ``SYNCD_LOG_LEVEL``, ``SYNCD_LOG_FORMAT``."""

    model_config = SettingsConfigDict(env_prefix="SYNCD_", extra="ignore")

    config: str = "config/syncd.yaml"
    store_url: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] | None = None  # None: per command
    log_format: Literal["auto", "json", "console"] = "auto"
    trace_plugins: bool = False
    now: datetime | None = None  # a fixed time for the cycle clock (reproducible plans)
