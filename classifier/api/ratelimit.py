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


def rate_limit_hit(*, key_id: int, limit: int) -> int | None:
    """Count one request of key ``key_id``; return None when it is within ``limit`` a minute, else the
    whole seconds until the window ends (for ``Retry-After``)."""
    now = _now()
    window_start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
    name = f"api-rate:{key_id}:{window_start}"
    try:
        if cache.add(name, 1, timeout=WINDOW_SECONDS + 1):
            count = 1
        else:
            try:
                count = cache.incr(name)
            except ValueError:  # the count expired between add() and incr()
                cache.add(name, 1, timeout=WINDOW_SECONDS + 1)
                count = 1
    except Exception as exc:  # any cache backend failure: serve the request rather than refuse it
        logger.warning("rate limit of API key %s not checked, the cache failed: %r", key_id, exc)
        return None
    if count <= limit:
        return None
    return max(1, math.ceil(window_start + WINDOW_SECONDS - now))
