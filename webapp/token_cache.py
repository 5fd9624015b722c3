"""Bearer tokens already checked, remembered per web process for TOKEN_CACHE_S seconds.

Every API request names a token, and reading it from the database was a third of a status request.
An entry lives TOKEN_CACHE_S seconds from the moment it was read, so a token revoked or a user
disabled elsewhere (another process, the command line) is refused at the latest that long after; a
revocation through this process's API clears the cache at once, and no entry outlives its token's
expiry. Unknown tokens are never remembered (a new token works at once, and guesses cannot fill the
cache); at most MAX_ENTRIES tokens are kept, the oldest read dropped first.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict

from accounts.directory import Identity
from jobs.db import utcnow

MAX_ENTRIES = 10_000


class TokenCache:
    def __init__(self, ttl_s: float, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, Identity]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> Identity | None:
        if self.ttl_s <= 0:
            return None
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            expires = entry[1].token_expires_at
            if time.monotonic() - entry[0] >= self.ttl_s or (expires is not None and expires <= utcnow()):
                del self._entries[digest]
                return None
            return entry[1]

    def put(self, digest: str, identity: Identity) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            self._entries.pop(digest, None)
            self._entries[digest] = (time.monotonic(), identity)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
