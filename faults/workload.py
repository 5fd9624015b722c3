"""The workload: a client of the HTTP API, outside every process under test, that logs every answer.

A steady mix of invoice submissions (some with an Idempotency-Key, some emailed), diagnostic jobs
with progress and planned transient failures, and an ETL import. Each request carries a marker the
checker can find in the database without trusting the answer: an invoice's `notes`, or the key.
"""
from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.csv_files import write_orders

CLIENT_TIMEOUT_S = 30.0  # the bound on every answer: a submit that takes longer counts as unanswered
KEYED_RETRIES = 3  # a client with an Idempotency-Key retries an unanswered or 5xx submit with the same key


@dataclass
class Answer:
    """One submit as the client saw it (the last try, for a retried keyed submit)."""

    kind: str  # "invoice", "sleep" or "import"
    marker: str
    status: int | None  # None: no answer (connection refused or reset, timeout)
    job_id: str | None = None
    key: str | None = None
    email: bool = False
    retry_after: str | None = None
    error: str = ""
    tries: int = 1
    sent_at: float = 0.0
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class Mix:
    """What the workload sends: its rate, its length (seconds or a count) and the share of each kind."""

    rate_per_s: float = 12.0
    duration_s: float = 20.0
    count: int | None = None
    invoice_share: float = 0.5
    keyed_share: float = 0.3
    email_share: float = 0.5
    sleep_s: tuple[float, float] = (0.05, 0.3)
    transient_share: float = 0.2
    import_rows: int = 20_000


class ApiClient:
    """A minimal HTTP/1.1 client sending the operator's token: one connection per request, so that no answer
    is lost to a keep-alive connection the server closed while it was idle."""

    def __init__(self, base_url: str, token: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token = token

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=CLIENT_TIMEOUT_S)
        try:
            connection.request(method, path, body=body, headers={"Authorization": f"Bearer {self.token}",
                                                                  "Connection": "close", **(headers or {})})
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def post_json(self, path: str, payload: dict[str, Any],
                  headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        return self.request("POST", path, json.dumps(payload).encode(),
                            {"Content-Type": "application/json", **(headers or {})})

    def get_json(self, path: str) -> tuple[int, Any]:
        status, _headers, data = self.request("GET", path)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, None


def invoice_body(marker: str, email: bool, rng: random.Random) -> dict[str, Any]:
    lines = [{"description": f"Service {n}", "quantity": str(rng.randint(1, 5)),
              "unit_price": f"{rng.randint(1, 500)}.{rng.randint(0, 99):02d}", "tax_rate": "19"}
             for n in range(rng.randint(1, 3))]
    return {"customer": {"name": f"Customer {marker[:8]}", "email": f"{marker}@example.test", "country": "DE"},
            "currency": "EUR", "items": lines, "notes": marker, "send_email": email}


def send(client: ApiClient, kind: str, path: str, payload: dict[str, Any], *, key: str | None = None,
         marker: str = "", email: bool = False) -> Answer:
    """POST one submit and log what came back; a keyed submit is retried with its key when unanswered or 5xx."""
    answer = Answer(kind, marker or key or uuid.uuid4().hex, None, key=key, email=email, sent_at=time.time())
    headers = {"Idempotency-Key": key} if key else {}
    for attempt in range(1, (KEYED_RETRIES if key else 1) + 1):
        answer.tries = attempt
        started = time.monotonic()
        try:
            status, got, data = client.post_json(path, payload, headers)
        except (OSError, http.client.HTTPException) as error:
            answer.status, answer.error = None, f"{type(error).__name__}: {error}"
        else:
            answer.status, answer.retry_after, answer.error = status, got.get("retry-after"), ""
            if status == 202:
                answer.job_id = json.loads(data)["id"]
            else:
                answer.error = data[:200].decode(errors="replace")
        answer.elapsed_s = time.monotonic() - started
        if answer.status is not None and answer.status < 500:
            break
        time.sleep(1.0)
    return answer


def submit_import(client: ApiClient, path: Path) -> Answer:
    """Upload `path` as an `orders` import (multipart)."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"dataset\"\r\n\r\norders\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode()
    body = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    answer = Answer("import", path.name, None, sent_at=time.time())
    started = time.monotonic()
    try:
        status, _headers, data = client.request("POST", "/api/etl", body,
                                                {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        answer.status = status
        if status == 202:
            answer.job_id = json.loads(data)["id"]
        else:
            answer.error = data[:200].decode(errors="replace")
    except (OSError, http.client.HTTPException) as error:
        answer.error = f"{type(error).__name__}: {error}"
    answer.elapsed_s = time.monotonic() - started
    return answer


def orders_file(directory: Path, first_id: int, rows: int) -> Path:
    """A valid orders CSV of `rows` rows with ids first_id.. (the tests' generator)."""
    directory.mkdir(parents=True, exist_ok=True)
    return write_orders(directory / f"orders-{first_id}.csv", rows, start=first_id)


@dataclass
class Workload:
    """Submits `mix` at a steady rate from a pool of client threads until its length is reached or `stop()`."""

    client: ApiClient
    mix: Mix
    seed: int = 0
    answers: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    submitted: int = 0

    def start(self) -> Workload:
        self.thread = threading.Thread(target=self._run, name="workload", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()

    def wait(self) -> list[Answer]:
        if self.thread is not None:
            self.thread.join()
        return self.answers

    def record(self, answer: Answer) -> None:
        with self.lock:
            self.answers.append(answer)

    def _run(self) -> None:
        rng = random.Random(self.seed)
        interval = 1.0 / self.mix.rate_per_s
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=12, thread_name_prefix="client") as pool:
            while not self.stopping.is_set():
                if self.mix.count is not None and self.submitted >= self.mix.count:
                    break
                if self.mix.count is None and time.monotonic() - started >= self.mix.duration_s:
                    break
                pool.submit(self._one(rng.random(), random.Random(rng.random())))
                self.submitted += 1
                next_at = started + self.submitted * interval
                time.sleep(max(0.0, next_at - time.monotonic()))

    def _one(self, pick: float, rng: random.Random) -> Callable[[], None]:
        mix = self.mix

        def go() -> None:
            marker = uuid.uuid4().hex
            if pick < mix.invoice_share:
                keyed = rng.random() < mix.keyed_share
                email = rng.random() < mix.email_share
                answer = send(self.client, "invoice", "/api/invoices", invoice_body(marker, email, rng),
                              key=f"inv-{marker}" if keyed else None, marker=marker, email=email)
            else:
                fail_times = 1 if rng.random() < mix.transient_share else 0
                payload = {"seconds": round(rng.uniform(*mix.sleep_s), 2), "steps": rng.randint(1, 3),
                           "fail_times": fail_times}
                keyed = rng.random() < mix.keyed_share
                answer = send(self.client, "sleep", "/api/diagnostics/sleep", payload,
                              key=f"sleep-{marker}" if keyed else None, marker=marker)
            self.record(answer)
        return go
