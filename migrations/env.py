"""Alembic environment: the database comes from the `sqlalchemy.url` option or DATABASE_URL."""
from __future__ import annotations

from alembic import context

from accounts import models as account_models  # noqa: F401 - registers the tables on Base.metadata
from config.settings import get_settings
from etl import models as etl_models  # noqa: F401
from invoicing import models as invoicing_models  # noqa: F401
from jobs import (
    models,  # noqa: F401 - registers the tables on Base.metadata
    schedule_models,  # noqa: F401
)
from jobs.db import Base, create_db_engine

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_db_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
