"""Reading a dead message's headers: job id, kind, why and when it died; and the page's age text."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from jobs.dead_letters import DeadMessage
from webapp.formatting import seconds_text


def test_a_rejected_celery_message_names_its_job_kind_reason_and_time() -> None:
    job_id = str(uuid.uuid4())
    died = datetime(2026, 11, 23, 10, 0, 5)  # py-amqp gives x-death time as naive UTC
    headers = {"id": job_id, "task": "diagnostics.sleep", "x-death": [
        {"count": 2, "reason": "delivery_limit", "queue": "invoices.bulk", "time": died}]}

    message = DeadMessage.parse("invoices.bulk.dead", 7, headers, json.dumps([[job_id], {}, {}]))

    assert message.job_id == uuid.UUID(job_id) and message.kind == "diagnostics.sleep"
    assert (message.original_queue, message.reason, message.death_count) == ("invoices.bulk", "delivery_limit", 2)
    assert message.died_at == died.replace(tzinfo=UTC)


def test_a_message_without_headers_falls_back_to_its_body_and_queue_name() -> None:
    job_id = str(uuid.uuid4())
    message = DeadMessage.parse("etl.dead", 1, {}, json.dumps([[job_id], {}, {}]))
    assert message.job_id == uuid.UUID(job_id) and message.original_queue == "etl"
    assert message.kind is None and message.died_at is None and message.death_count == 1


def test_a_message_that_is_not_a_job_has_no_job_id() -> None:
    assert DeadMessage.parse("etl.dead", 1, {"id": "not-a-uuid"}, b"\x00garbage").job_id is None


def test_ages_read_in_the_largest_whole_unit() -> None:
    shown = [seconds_text(s) for s in (None, 4.94, 42.4, 61, 7300, 200000)]
    assert shown == ["—", "4.9 s", "42 s", "1 min", "2 h", "2 d"]
