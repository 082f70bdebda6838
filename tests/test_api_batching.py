"""Coalescing concurrent classify requests: the Coalescer with threads, and the batch function."""

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from classifier.api.auth import keys_refused
from classifier.api.batching import Coalescer
from classifier.api.endpoints import _classify_items, _Item
from classifier.api.errors import ApiError, ErrorCode
from classifier.api.schemas import ClassifyResult
from classifier.apikeys import ActiveKey, api_key_authenticate
from classifier.models import ApiKey, ApiScope, Prediction
from classifier.services import IncomingMessage

from .api_support import new_key


def _run_in_threads(
    coalescer: Coalescer, submissions: list[list[int]]
) -> tuple[list[object], list[threading.Thread]]:
    """Submit each of ``submissions`` from a thread of its own; return their outcomes and threads."""
    outcomes: list[object] = [None] * len(submissions)

    def submit(n: int) -> None:
        try:
            outcomes[n] = coalescer.submit(submissions[n])
        except Exception as exc:
            outcomes[n] = exc

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(len(submissions))]
    for thread in threads:
        thread.start()
    return outcomes, threads


def _wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_lone_submission_runs_at_once():
    calls: list[list[int]] = []

    def process(items: list[int]) -> list[int]:
        calls.append(list(items))
        return [i * 10 for i in items]

    coalescer = Coalescer(process, max_items=10)
    assert coalescer.submit([1, 2]) == [10, 20]
    assert coalescer.submit([3]) == [30]
    assert calls == [[1, 2], [3]]


def test_submissions_that_arrive_during_a_batch_go_together_in_order():
    first_started, release = threading.Event(), threading.Event()
    calls: list[list[int]] = []

    def process(items: list[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            first_started.set()
            assert release.wait(10)
        return [-i for i in items]

    coalescer = Coalescer(process, max_items=100)
    lead, lead_threads = _run_in_threads(coalescer, [[0]])
    assert first_started.wait(10)
    waiting, threads = _run_in_threads(coalescer, [[1, 2], [3], [4, 5, 6]])
    _wait_for(lambda: len(coalescer._queue) == 3)  # all three are queued behind the running batch
    release.set()
    for thread in lead_threads + threads:
        thread.join(10)
    assert lead == [[0]]
    assert waiting == [[-1, -2], [-3], [-4, -5, -6]]
    assert calls[0] == [0]
    assert calls[1] == [1, 2, 3, 4, 5, 6]  # started in any order, queued in arrival order
    assert len(calls) == 2


def test_a_batch_holds_at_most_max_items_but_never_splits_a_submission():
    gate = threading.Event()
    calls: list[list[int]] = []

    def process(items: list[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            assert gate.wait(10)
        return items

    coalescer = Coalescer(process, max_items=3)
    _, first = _run_in_threads(coalescer, [[0]])
    _wait_for(lambda: bool(calls))
    outcomes, threads = _run_in_threads(coalescer, [[1, 2], [3, 4], [5, 6, 7, 8]])
    _wait_for(lambda: len(coalescer._queue) == 3)
    gate.set()
    for thread in first + threads:
        thread.join(10)
    assert outcomes == [[1, 2], [3, 4], [5, 6, 7, 8]]
    # Whatever order the three were queued in, no two fit in one batch of 3, and [5, 6, 7, 8] went whole.
    assert sorted(map(len, calls[1:])) == [2, 2, 4]


def test_an_error_fails_its_batch_only():
    def process(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("unlucky")
        return items

    coalescer = Coalescer(process, max_items=10)
    with pytest.raises(ValueError, match="unlucky"):
        coalescer.submit([12, 13])
    assert coalescer.submit([14]) == [14]
    assert not coalescer._running


@pytest.mark.django_db
def test_requests_batched_together_get_their_own_results():
    """Three requests' messages in one batch: stored ones in one insert, each result where it belongs."""
    key = _known_key()
    items = [
        _Item(IncomingMessage("you are a complete idiot", external_id="a"), True, key),
        _Item(IncomingMessage("have a great stream everyone"), False, key),
        _Item(IncomingMessage("shut up you moron", external_id="a"), True, key),  # same id, another request
        _Item(IncomingMessage("gg well played"), True, key),
    ]
    results = [result for result in _classify_items(items) if isinstance(result, ClassifyResult)]
    assert len(results) == 4
    stored: dict[int | None, Prediction] = {p.pk: p for p in Prediction.objects.all()}
    assert len(stored) == 2
    assert stored[results[0].id].text == "you are a complete idiot"
    assert results[1].id is None and results[1].flagged is False
    assert (results[2].id, results[2].duplicate) == (results[0].id, True)
    assert stored[results[3].id].text == "gg well played"
    assert results[0].flagged and "insult" in results[0].flagged_labels


def _known_key(name: str = "bot", **kwargs: Any) -> ActiveKey:
    """Create a key and authenticate it once, so that this process knows it; return it as remembered."""
    full_key = new_key(name=name, **kwargs)
    api_key_authenticate(presented=full_key)
    return api_key_authenticate(presented=full_key, confirm_later=True)


@pytest.mark.django_db
def test_a_batch_confirms_its_keys_in_one_query_and_refuses_a_revoked_one(django_assert_num_queries):
    """Requests of a key revoked by another process, batched with a good key's: only the good ones stored."""
    good, revoked = _known_key("good"), _known_key("revoked")
    assert not good.confirmed and not revoked.confirmed
    ApiKey.objects.filter(pk=revoked.id).update(revoked_at=timezone.now())  # as another process would
    items = [
        _Item(IncomingMessage("hello chat"), True, good),
        _Item(IncomingMessage("you are a complete idiot"), True, revoked),
        _Item(IncomingMessage("gg well played"), False, revoked),
    ]
    with django_assert_num_queries(1):
        refused = keys_refused([item.key for item in items], ApiScope.CLASSIFY)
    assert set(refused) == {revoked.id}
    results = _classify_items(items)
    assert isinstance(results[0], ClassifyResult)
    errors = [result for result in results[1:] if isinstance(result, ApiError)]
    assert [(error.status, error.code) for error in errors] == [(401, ErrorCode.REVOKED_API_KEY)] * 2
    assert list(Prediction.objects.values_list("text", flat=True)) == ["hello chat"]
