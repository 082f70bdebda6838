import threading

import pytest

from classifier import memo
from classifier.memo import Memo


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(memo.time, "monotonic", fake)
    return fake


def counter():
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    return compute, calls


def test_a_value_is_computed_once_within_its_lifetime_and_again_after(clock):
    compute, calls = counter()
    kept = Memo(compute, seconds=1.0)
    assert [kept.get(), kept.get()] == [1, 1]
    clock.now += 0.99
    assert kept.get() == 1
    clock.now += 0.02
    assert kept.get() == 2 and len(calls) == 2


def test_clear_forgets_the_value_at_once(clock):
    compute, _ = counter()
    kept = Memo(compute)
    assert kept.get() == 1
    kept.clear()
    assert kept.get() == 2


def test_a_clear_during_a_computation_keeps_the_old_computation_out():
    started, release = threading.Event(), threading.Event()
    values = iter(["stale", "fresh"])

    def compute():
        value = next(values)
        if value == "stale":
            started.set()
            release.wait(5)
        return value

    kept = Memo(compute, seconds=60)
    results = []
    reader = threading.Thread(target=lambda: results.append(kept.get()))
    reader.start()
    started.wait(5)
    kept.clear()  # a change lands while the first reader is still computing
    release.set()
    reader.join(5)
    assert results == ["stale"]  # that reader answers with what it read
    assert kept.get() == "fresh"  # but nobody else is served the value read before the change
