"""Cursor pagination over (created_at, id), newest first: stable when rows share a creation time."""
from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_

from webapp.errors import ApiError

Row = TypeVar("Row")


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) a cursor points after; 422 naming `cursor` if it is not one of ours."""
    try:
        created_text, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        created = datetime.fromisoformat(created_text)
        if created.tzinfo is None:
            raise ValueError("naive timestamp")
        return created, uuid.UUID(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(422, "invalid request", [{"field": "cursor", "reason": "not a cursor from this API"}]) from None


def newest_first_page(statement: Select[Any], created_column: Any, id_column: Any, limit: int,
                      cursor: str | None) -> Select[Any]:
    """`statement` ordered newest first, after `cursor`, one row more than a page (to know if there is more)."""
    statement = statement.order_by(created_column.desc(), id_column.desc()).limit(limit + 1)
    if cursor:
        created, last_id = decode_cursor(cursor)
        statement = statement.where(or_(created_column < created, and_(created_column == created, id_column < last_id)))
    return statement


def split_page(rows: list[Any], limit: int) -> tuple[list[Any], str | None]:
    """The page of a `newest_first_page` result and the cursor of the next page (None on the last).

    The rows need `created_at` and `id`.
    """
    page = rows[:limit]
    return page, encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None
