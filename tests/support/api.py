"""Talking to the REST API the way a polling client does."""
from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.support.processes import wait_for


def submit_sleep(client: FlaskClient, **params: Any) -> str:
    response = client.post("/api/diagnostics/sleep", json=params)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def get_job(client: FlaskClient, job_id: str) -> dict[str, Any]:
    response = client.get(f"/api/jobs/{job_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def wait_for_job(client: FlaskClient, job_id: str, predicate: Any, timeout: float, what: str) -> dict[str, Any]:
    """Poll the job until `predicate(job)` holds; return that job."""
    seen: list[dict[str, Any]] = []

    def check() -> dict[str, Any] | None:
        job = get_job(client, job_id)
        seen[:] = [job]
        return job if predicate(job) else None

    try:
        return wait_for(check, timeout, interval=0.1, what=what)  # type: ignore[return-value]
    except AssertionError as error:
        raise AssertionError(f"{error}; last seen: {seen[-1] if seen else None}") from None


def wait_for_state(client: FlaskClient, job_id: str, state: str, timeout: float = 30) -> dict[str, Any]:
    return wait_for_job(client, job_id, lambda job: job["state"] == state, timeout, f"job {job_id} to be {state}")
