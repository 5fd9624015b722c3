"""An operator's action from a page: its outcome flashed on the page it redirects to."""
from __future__ import annotations

from collections.abc import Callable

from flask import flash

from webapp.errors import ApiError


def flash_outcome(action: Callable[[], str]) -> None:
    """Run `action` and flash the sentence it returns; a refusal (4xx) is flashed as an error, a 404 raised."""
    try:
        flash(action(), "notice")
    except ApiError as error:
        if error.status == 404:
            raise
        flash(error.message, "error")
