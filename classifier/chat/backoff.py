"""Exponential backoff with jitter, shared by the chat connection, the database writer and the webhook."""

import random


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Return seconds to wait before retry number ``attempt`` (0 for the first retry).

    The delay doubles with each attempt up to ``cap``, and a random half of it is taken off ("equal jitter")
    so that many clients cut off at once do not all come back at the same moment.
    """
    ceiling = min(cap, base * 2 ** min(attempt, 32))
    return ceiling * (rng or random).uniform(0.5, 1.0)
