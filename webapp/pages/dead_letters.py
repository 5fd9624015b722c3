"""The dead-letters page: a table per dead-letter queue, replay or discard with a confirm step (no script)."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from accounts.roles import Role
from jobs.db import utcnow
from jobs.dead_letters import DeadLetterNotFound, DeadLettersUnavailable, ReplayRefused
from webapp.access import current_actor, requires
from webapp.api.dead_letters import current_job, dead_letter_to_dict, dead_letters, parse_dead_letter_job_id
from webapp.formatting import seconds_text

bp = Blueprint("dead_letter_pages", __name__, url_prefix="/dead-letters")

CONFIRM_FIELD = "confirm"
# action: (button label, endpoint that acts once confirmed)
ACTIONS = {
    "replay": ("Replay", "dead_letter_pages.replay_dead_letter"),
    "discard": ("Discard", "dead_letter_pages.discard_dead_letter"),
    "replay-all": ("Replay all", "dead_letter_pages.replay_all_dead_letters"),
    "discard-all": ("Discard all", "dead_letter_pages.discard_all_dead_letters"),
}


@bp.get("")
@requires(Role.OPERATOR)
def list_dead_letters() -> tuple[str, int]:
    try:
        listing = dead_letters().browse()
    except DeadLettersUnavailable as exc:
        return render_template("dead_letters.html", queues=[], unavailable=str(exc)), 503
    queues: list[dict[str, Any]] = [
        {"name": name, "total": total, "rows": []} for name, total in listing.totals.items() if total]
    by_name = {queue["name"]: queue for queue in queues}
    now = utcnow()
    for item in listing.items:
        if item.message.queue not in by_name:  # it arrived after the depths were read
            by_name[item.message.queue] = {"name": item.message.queue, "total": 0, "rows": []}
            queues.append(by_name[item.message.queue])
        by_name[item.message.queue]["rows"].append(dead_letter_to_dict(item) | {"age": seconds_text(item.age_s(now))})
    return render_template("dead_letters.html", queues=queues, truncated=listing.truncated,
                           shown=len(listing.items)), 200


def _confirmed() -> bool:
    return request.form.get(CONFIRM_FIELD) == "yes"


def _confirm_page(action: str, job_id: uuid.UUID | None = None) -> tuple[str, int]:
    label, endpoint = ACTIONS[action]
    confirm = {"action": action, "label": label, "endpoint": endpoint, "job_id": str(job_id) if job_id else None,
               "job": current_job(job_id) if job_id else None}
    return render_template("dead_letters.html", confirm=confirm), 200


def _back() -> Response:
    return redirect(url_for("dead_letter_pages.list_dead_letters"), code=303)


def _act(action: str, job_id: uuid.UUID | None, run: Callable[[], str], refused: str,
         errors: tuple[type[Exception], ...]) -> Response | tuple[str, int]:
    """The confirm page first; once confirmed, run the action and say on the list what it did or why not."""
    if not _confirmed():
        return _confirm_page(action, job_id)
    try:
        flash(run(), "notice")
    except errors as exc:
        flash(f"{refused}: {exc}", "error")
    return _back()


@bp.post("/<job_id>/replay")
@requires(Role.OPERATOR)
def replay_dead_letter(job_id: str) -> Response | tuple[str, int]:
    key = parse_dead_letter_job_id(job_id)

    def replay() -> str:
        if dead_letters().replay(key, current_actor()).published:
            return f"Job {key} was replayed: it is queued for a new attempt."
        return (f"Job {key} is queued for a new attempt; the broker did not confirm its message, so the relay "
                "will publish it and its dead letter stays until discarded.")

    return _act("replay", key, replay, f"Job {key} was not replayed",
                (DeadLettersUnavailable, DeadLetterNotFound, ReplayRefused))


@bp.post("/<job_id>/discard")
@requires(Role.OPERATOR)
def discard_dead_letter(job_id: str) -> Response | tuple[str, int]:
    key = parse_dead_letter_job_id(job_id)

    def discard() -> str:
        dead_letters().discard(key, current_actor())
        return f"The dead letter of job {key} was discarded; the job stays as it was."

    return _act("discard", key, discard, f"The dead letter of job {key} was not discarded",
                (DeadLettersUnavailable, DeadLetterNotFound))


@bp.post("/replay-all")
@requires(Role.OPERATOR)
def replay_all_dead_letters() -> Response | tuple[str, int]:
    def replay_all() -> str:
        outcome = dead_letters().replay_all(current_actor())
        return (f"{len(outcome.done)} jobs replayed; {len(outcome.skipped)} left"
                + "".join(f" — {skip['reason']}" for skip in outcome.skipped[:5]))

    return _act("replay-all", None, replay_all, "Nothing was replayed", (DeadLettersUnavailable,))


@bp.post("/discard-all")
@requires(Role.OPERATOR)
def discard_all_dead_letters() -> Response | tuple[str, int]:
    def discard_all() -> str:
        outcome = dead_letters().discard_all(current_actor())
        return f"{outcome.messages_acked} dead letters discarded; their jobs stay as they were."

    return _act("discard-all", None, discard_all, "Nothing was discarded", (DeadLettersUnavailable,))
