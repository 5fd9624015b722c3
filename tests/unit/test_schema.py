"""The models and the migrations describe the same schema, so code that uses a model reads the real table."""
from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from accounts import models as account_models  # noqa: F401 - registers the tables on Base.metadata
from config.settings import load_settings
from etl import models as etl_models  # noqa: F401 - registers the tables on Base.metadata
from etl.datasets import DATASETS
from invoicing import models as invoice_models
from jobs import schedule_models  # noqa: F401 - registers the tables on Base.metadata
from jobs.db import Base, create_db_engine
from webapp.commands import upgrade_database


def test_the_migrated_database_matches_every_model(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    upgrade_database(load_settings({"DATABASE_URL": url}))
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_the_order_and_customer_models_have_the_columns_their_datasets_load() -> None:
    for model in (invoice_models.Order, invoice_models.Customer):
        spec = DATASETS[model.__tablename__]
        assert set(spec.column_names) <= set(model.__table__.columns.keys())
        assert tuple(column.name for column in model.__table__.primary_key) == spec.key
