"""Bearer tokens: random, shown once, stored as a SHA-256 digest.

A token carries 256 random bits, so a fast digest is enough (no guessing can reach it) and lets
each request find its token with one indexed lookup.
"""
from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "jbt_"
HINT_LENGTH = len(TOKEN_PREFIX) + 6


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_hint(token: str) -> str:
    return token[:HINT_LENGTH]
