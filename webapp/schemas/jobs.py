"""The job list's query string and the diagnostic jobs' bodies."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from jobs.kinds import declared_kinds
from jobs.states import JobState


class JobListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: JobState | None = None
    kind: str | None = None
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str | None) -> str | None:
        if value is not None and value not in declared_kinds():
            raise ValueError(f"unknown job kind; one of {', '.join(declared_kinds())}")
        return value


class SleepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    seconds: float = Field(1.0, ge=0, le=3600, description="total time to sleep")
    fail_times: int = Field(0, ge=0, le=100, description="fail transiently on this many first attempts")
    steps: int = Field(1, ge=1, le=1000, description="progress checkpoints")
    ignore_soft_limit: bool = Field(False, description="sleep on past the soft time limit, as a job stuck in C "
                                    "code would, until the hard limit kills it (tests the hard-limit path)")
