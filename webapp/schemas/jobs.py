"""The job list's query string and the diagnostic jobs' bodies."""
from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from jobs.kinds import declared_kinds
from jobs.states import JobState


class JobListQuery(BaseModel):
    """The job list's filters, each optional and combinable (all must hold); dates are UTC days, both ends
    included."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    state: JobState | None = None
    kind: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    finished_from: date | None = None
    finished_to: date | None = None
    submitted_by: str | None = Field(None, max_length=254, description="part of the submitter's email")
    error_type: str | None = Field(None, max_length=100, description="the error's type, e.g. TimeLimitExceeded")
    error: str | None = Field(None, max_length=200, description="part of the error message")
    parent: uuid.UUID | None = Field(None, description="the batch job whose children to list")
    invoice: str | None = Field(None, max_length=32, description="part of an invoice number the job issued")
    customer: str | None = Field(None, max_length=254, description="part of the billed customer's name or email")
    file: str | None = Field(None, max_length=255, description="part of an import's file name")
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = None

    @field_validator("created_to", "finished_to")
    @classmethod
    def _after_its_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        start_field = (info.field_name or "").replace("_to", "_from")
        start = info.data.get(start_field)
        if value is not None and start is not None and value < start:
            raise ValueError(f"is before {start_field} {start.isoformat()}")
        return value

    def filters(self) -> dict[str, object]:
        """The filters given (for the page's links to the next page and the bulk actions)."""
        return {name: value for name, value in self.model_dump(mode="json", exclude={"limit", "cursor"}).items()
                if value not in (None, "")}

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
