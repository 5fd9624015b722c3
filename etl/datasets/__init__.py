"""Every importable dataset, by name. Adding one: a spec module here and a migration for its table."""
from __future__ import annotations

from etl.datasets.customers import CUSTOMERS
from etl.datasets.orders import ORDERS
from etl.spec import DatasetSpec

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (CUSTOMERS, ORDERS)}
