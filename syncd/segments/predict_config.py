"""The ``predict:`` section of the config: how far ahead predictions look, how often the
model is fitted again. Kept apart from the model so reading a config imports no scipy."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from syncd.duration import Duration


class PredictConfig(BaseModel):
    """``predict: {horizon: 90d, every: 1d}`` (docs/segments.md, Predicted)."""

    model_config = ConfigDict(extra="forbid")

    horizon: Duration = Field(
        default=timedelta(days=90),
        description="The window expected orders and predicted value are counted over, from now.",
    )
    every: Duration = Field(
        default=timedelta(days=1),
        description="The model is fitted again once this long has passed since the last fit "
        "(or with --full).",
    )

    @field_validator("horizon", "every")
    @classmethod
    def _above_zero(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("takes a duration above zero, such as 90d")
        return value
