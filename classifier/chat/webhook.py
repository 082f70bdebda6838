"""POST a signed JSON event for each flagged chat message, from a thread of its own.

Ingestion never waits for the receiver: events go into a bounded queue, and when it is full the event is
dropped with a log line. Each body is signed with HMAC-SHA256 under the shared secret, the way GitHub signs
its webhooks: ``X-Toxsite-Signature-256: sha256=<hex digest of the raw body>``. ``X-Toxsite-Delivery`` is
the same on every retry of one event, so a receiver can drop repeats.
"""

import hashlib
import hmac
import http.client
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

from classifier.models import Prediction
from classifier.scoring import thresholds

from .backoff import backoff_delay

logger = logging.getLogger(__name__)

EVENT = "message.flagged"
SIGNATURE_HEADER = "X-Toxsite-Signature-256"
DELIVERY_HEADER = "X-Toxsite-Delivery"
EVENT_HEADER = "X-Toxsite-Event"


def sign(secret: str, body: bytes) -> str:
    """Return the signature header's value for ``body``: ``sha256=`` and the hex HMAC-SHA256 digest."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_url(url: str) -> str:
    """Return ``url`` if it is an http(s) URL with a host; raise ``ValueError`` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("The webhook URL must start with https:// (or http://) and name a host.")
    return url


def flagged_event(prediction: Prediction, thresholds: Mapping[str, float]) -> dict[str, Any]:
    """Return the JSON event for a flagged prediction: the message, its scores, the labels over threshold."""
    scores = prediction.scores
    return {
        "event": EVENT,
        "prediction_id": prediction.pk,
        "source": prediction.source,
        "channel": prediction.channel,
        "author": prediction.author,
        "message_id": prediction.external_id,
        "text": prediction.text,
        "scores": {label: round(score, 4) for label, score in scores.items()},
        "labels": [label for label, score in scores.items() if score >= thresholds[label]],
        "model_version": prediction.model_version,
        "created_at": prediction.created_at.isoformat(),
    }


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Treat a redirect as a failure: following it would resend the event somewhere not configured."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookSender:
    """Deliver events to one URL from a daemon thread, retrying failures with exponential backoff."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        queue_size: int = 1000,
        attempts: int = 5,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        timeout: float = 5.0,
    ) -> None:
        if not secret:
            raise ValueError("A webhook needs a secret to sign its events with.")
        self._url = check_url(url)
        parts = urlsplit(url)
        # Logs name the host only: a path or query may hold the receiver's own credentials.
        self._target = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
        self._secret = secret
        self._attempts = attempts
        self._backoff = (backoff_base, backoff_cap)
        self._timeout = timeout
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=queue_size)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chat-webhook", daemon=True)
        self._opener = urllib.request.build_opener(_NoRedirect)
        self.delivered = 0
        self.failed = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread.start()

    def submit(self, event: Mapping[str, Any]) -> bool:
        """Queue ``event`` without waiting; when the queue is full, drop it with a log line, return False."""
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            self._queue.put_nowait((uuid.uuid4().hex, body))
        except queue.Full:
            self.dropped += 1
            logger.warning(
                "webhook: %d events are waiting for %s: dropped the event for message %s",
                self._queue.maxsize,
                self._target,
                event.get("message_id") or event.get("prediction_id"),
            )
            return False
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (no more retries once closing), waiting at most ``timeout`` seconds."""
        self._closing.set()
        deadline = time.monotonic() + timeout
        if self._thread.is_alive():
            with suppress(queue.Full):
                self._queue.put(None, timeout=timeout)
            self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive() or not self._queue.empty():
            logger.warning("webhook: stopped with events still undelivered to %s", self._target)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            self._deliver(*item)

    def _deliver(self, delivery: str, body: bytes) -> None:
        for attempt in range(self._attempts):
            status: int | None = None
            try:
                status = self._post(delivery, body)
            except urllib.error.HTTPError as exc:
                status, reason = exc.code, f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                reason = str(getattr(exc, "reason", exc))
            else:
                self.delivered += 1
                logger.debug("webhook: delivered %s to %s", delivery, self._target)
                return
            retry = status is None or status in {408, 429} or status >= 500
            if not retry or attempt + 1 == self._attempts or self._closing.is_set():
                self.failed += 1
                logger.error(
                    "webhook: gave up on delivery %s to %s after %d attempts (%s)",
                    delivery,
                    self._target,
                    attempt + 1,
                    reason,
                )
                return
            delay = backoff_delay(attempt, base=self._backoff[0], cap=self._backoff[1])
            logger.warning(
                "webhook: delivery %s to %s failed (%s); retrying in %.1f s",
                delivery,
                self._target,
                reason,
                delay,
            )
            self._closing.wait(delay)

    def _post(self, delivery: str, body: bytes) -> int:
        request = urllib.request.Request(
            self._url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "toxsite-chat-webhook",
                EVENT_HEADER: EVENT,
                DELIVERY_HEADER: delivery,
                SIGNATURE_HEADER: sign(self._secret, body),
            },
        )
        with self._opener.open(request, timeout=self._timeout) as response:
            response.read()
            return int(response.status)


def flagged_hook(sender: WebhookSender) -> Callable[[Prediction], None]:
    """Return the listener's ``on_flagged``: post each flagged message with the thresholds in force now, so
    a threshold a moderator changes while the listener runs shows in the next event."""

    def on_flagged(prediction: Prediction) -> None:
        sender.submit(flagged_event(prediction, thresholds()))

    return on_flagged
