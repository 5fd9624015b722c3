"""Job kinds: each is declared once, on the function that runs it, with the queue it runs on.

    @job_kind("invoice.email", queue=NOTIFICATIONS)
    def email_invoice(ctx: JobContext) -> dict[str, Any]: ...

The declaration is the kind: callers submit `email_invoice` (a JobKind), the worker registers one
Celery task per declared kind (named as the kind), and the routes and time limits come from its
queue and that queue's family. The modules that declare kinds are listed in KIND_MODULES and
imported by name, as Celery's `imports` setting does, so the platform never imports domain code
statically and every process sees the same kinds.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from jobs.topology import QueueSpec

if TYPE_CHECKING:
    from jobs.context import JobContext
    from jobs.events import EventType

JobFunction = Callable[["JobContext"], dict[str, Any]]

# Every module that declares job kinds; a kind in a new module adds the module here.
KIND_MODULES = ("jobs.diagnostics", "etl.importer", "invoicing.issue", "invoicing.batch", "notifications.invoice_email")


class UnknownJobKind(KeyError):
    pass


@dataclass(frozen=True)
class JobKind:
    """A kind of job: its name (also its Celery task's name), its queue, and the function that runs it."""

    name: str
    queue: QueueSpec
    run: JobFunction
    # The domain event written when a job of this kind fails for good, besides job.failed (jobs.lifecycle).
    failure_event: EventType | None = None

    @property
    def family(self) -> str:
        """Whose time limits apply (the queue's family)."""
        return self.queue.family

    def __str__(self) -> str:
        return self.name


_declared: dict[str, JobKind] = {}


def job_kind(name: str, *, queue: QueueSpec,
             failure_event: EventType | None = None) -> Callable[[JobFunction], JobKind]:
    """Declare the decorated function as the job kind `name` on `queue` (with the event its failures emit)."""

    def declare(function: JobFunction) -> JobKind:
        kind = JobKind(name, queue, function, failure_event)
        earlier = _declared.get(name)
        if earlier is not None and earlier.run.__qualname__ != function.__qualname__:
            raise ValueError(f"job kind {name!r} is declared twice: {earlier.run.__module__} and {function.__module__}")
        _declared[name] = kind
        return kind

    return declare


@cache
def declared_kinds() -> Mapping[str, JobKind]:
    """Every declared kind by name (the declaring modules are imported on first use)."""
    for module in KIND_MODULES:
        importlib.import_module(module)
    return MappingProxyType(dict(sorted(_declared.items())))


def kind_named(name: str) -> JobKind:
    try:
        return declared_kinds()[name]
    except KeyError:
        raise UnknownJobKind(name) from None


def as_kind(kind: JobKind | str) -> JobKind:
    return kind if isinstance(kind, JobKind) else kind_named(kind)


def task_routes() -> dict[str, dict[str, str]]:
    """Celery task_routes: every kind's task to its queue."""
    return {kind.name: {"queue": kind.queue.name, "routing_key": kind.queue.name}
            for kind in declared_kinds().values()}
