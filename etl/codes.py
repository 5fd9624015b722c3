"""ISO 4217 currency codes and ISO 3166-1 alpha-2 country codes (from pycountry's bundled tables)."""
from __future__ import annotations

from functools import lru_cache

import pycountry


@lru_cache(maxsize=1)
def currency_codes() -> frozenset[str]:
    return frozenset(currency.alpha_3 for currency in pycountry.currencies)


@lru_cache(maxsize=1)
def country_codes() -> frozenset[str]:
    return frozenset(country.alpha_2 for country in pycountry.countries)
