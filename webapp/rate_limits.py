"""Rate limits on job submission: per API token and per user, shared by every submit endpoint."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from webapp.access import current_identity
from webapp.extensions import limiter
from webapp.runtime import runtime

View = TypeVar("View", bound=Callable[..., Any])

TOO_MANY_SUBMISSIONS = "too many jobs submitted; wait before submitting more (see Retry-After)"
# Marks a view that submits jobs: the OpenAPI document gives it the Idempotency-Key header and the 429.
SUBMITS_JOBS = "submits_jobs"


def _per_token_limit() -> str:
    return runtime().settings.submit_rate_limit_per_token


def _per_user_limit() -> str:
    return runtime().settings.submit_rate_limit_per_user


def _token_key() -> str:
    return f"token:{current_identity().token_id}"


def _user_key() -> str:
    return f"user:{current_identity().user_id}"


def _not_a_token() -> bool:
    return current_identity().token_id is None


def submit_rate_limits(view: View) -> View:
    """Count a submission against its token's and its user's budgets, across all submit endpoints."""
    per_user = limiter.shared_limit(_per_user_limit, scope="submit-per-user", key_func=_user_key,
                                    error_message=TOO_MANY_SUBMISSIONS)
    per_token = limiter.shared_limit(_per_token_limit, scope="submit-per-token", key_func=_token_key,
                                     exempt_when=_not_a_token, error_message=TOO_MANY_SUBMISSIONS)
    limited = per_token(per_user(view))
    setattr(limited, SUBMITS_JOBS, True)
    return cast(View, limited)
