"""What a user may read about a database error: the refusal and its column or constraint, never SQL.

SQLAlchemy's message for a failed statement carries the statement and its parameters (customer data,
sometimes secrets); a job's stored error and the API answers show only what the driver reports as
the reason. The full error goes to the worker's log.
"""
from __future__ import annotations

from sqlalchemy.exc import DBAPIError, StatementError


def describe_database_error(exc: StatementError) -> str:
    """A one-line reason from the driver's diagnostics (psycopg) or message (sqlite3), without SQL."""
    original = exc.orig
    diagnostics = getattr(original, "diag", None)
    if diagnostics is not None and getattr(diagnostics, "message_primary", None):
        reason = str(diagnostics.message_primary)
        where = [f"{label} {value}" for label, value in (
            ("column", diagnostics.column_name), ("constraint", diagnostics.constraint_name),
            ("table", diagnostics.table_name)) if value]
        if where and not any(value in reason for value in where):
            reason += f" ({', '.join(where)})"
    elif isinstance(exc, DBAPIError):
        reason = str(original).splitlines()[0] if str(original) else type(original).__name__
    else:  # a value SQLAlchemy could not bind: the message names the Python type, not the statement
        reason = f"a value could not be stored ({type(original).__name__})"
    return f"the database refused the job's data: {reason[:300]}"
