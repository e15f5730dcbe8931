"""The strict options base shared by backends and the LLM client: unknown keys are errors, values are frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictOptions(BaseModel):
    """Base class of every options model (a backend's config keys, an endpoint's): unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
