"""Per-key rate limits: requests counted in fixed one-minute windows in Django's cache.

With Redis (``REDIS_URL``) every worker and server shares the counts; with the local-memory cache each
worker process counts on its own, so a key can make up to (workers x limit) requests a minute.
"""

import logging
import math
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


def _now() -> float:
    return time.time()


def _counted(name: str) -> int:
    """Add one to the window's count ``name`` and return it; the window's first request starts it."""
    try:
        count = cache.incr(name)  # every request but the window's first: one cache call (Redis: two)
    except ValueError:  # no count yet, or it just expired
        pass
    else:
        if count == 1:  # Redis: the count expired between Django's EXISTS and INCR, which made it anew
            cache.touch(name, timeout=WINDOW_SECONDS + 1)  # with no expiry it would stay for good
        return count
    if cache.add(name, 1, timeout=WINDOW_SECONDS + 1):
        return 1
    try:
        return cache.incr(name)  # another request started the count meanwhile
    except ValueError:  # ... and it expired since
        cache.add(name, 1, timeout=WINDOW_SECONDS + 1)
        return 1


def rate_limit_hit(*, key_id: int, limit: int) -> int | None:
    """Count one request of key ``key_id``; return None when it is within ``limit`` a minute, else the
    whole seconds until the window ends (for ``Retry-After``)."""
    now = _now()
    window_start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
    name = f"api-rate:{key_id}:{window_start}"
    try:
        count = _counted(name)
    except Exception as exc:  # any cache backend failure: serve the request rather than refuse it
        logger.warning("rate limit of API key %s not checked, the cache failed: %r", key_id, exc)
        return None
    if count <= limit:
        return None
    return max(1, math.ceil(window_start + WINDOW_SECONDS - now))
