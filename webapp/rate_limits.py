"""Rate limits on job submission: per API token and per user, shared by every submit endpoint (webapp.submit_limits)."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from webapp.access import current_identity
from webapp.runtime import runtime

View = TypeVar("View", bound=Callable[..., Any])

# Marks a view that submits jobs: the OpenAPI document gives it the Idempotency-Key header and the 429.
SUBMITS_JOBS = "submits_jobs"


def submit_rate_limits(view: View) -> View:
    """Count a submission against its token's and its user's budgets, across all submit endpoints."""

    @wraps(view)
    def limited(*args: Any, **kwargs: Any) -> Any:
        identity = current_identity()
        runtime().submit_limits.charge(identity.user_id, identity.token_id)
        return view(*args, **kwargs)

    setattr(limited, SUBMITS_JOBS, True)
    return cast(View, limited)
