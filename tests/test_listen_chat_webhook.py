"""The chat webhook against a local HTTP server, and SIGTERM on a real listen_chat process."""

import asyncio
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from classifier.chat.listener import ChatListener
from classifier.chat.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    WebhookSender,
    flagged_event,
    flagged_hook,
)
from classifier.ml import LABELS
from classifier.models import Prediction, Source
from classifier.moderation import threshold_set
from classifier.scoring import thresholds
from classifier.services import IncomingMessage, predictions_create_many
from tests.chat_support import (
    CLEAN,
    SECRET_TOKEN,
    STORED_ROWS,
    TOXIC,
    WEBHOOK_SECRET,
    FakeIrcServer,
    chat_config,
    expected_signature,
    privmsg,
    run,
    start,
    webhook_receiver,
)
from tests.subprocess_support import ROOT, subprocess_database


def test_the_webhook_retries_a_failed_delivery_and_signs_the_body(caplog):
    with webhook_receiver(statuses=(503,)) as receiver:
        sender = WebhookSender(receiver.url, WEBHOOK_SECRET, backoff_base=0.01)
        sender.start()
        assert sender.submit({"event": "message.flagged", "message_id": "m1", "text": TOXIC})
        receiver.wait(2)
        sender.close()
    (first_headers, first_body), (headers, body) = receiver.requests
    assert body == first_body
    assert first_headers[DELIVERY_HEADER] == headers[DELIVERY_HEADER]
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected_signature(body))
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"event": "message.flagged", "message_id": "m1", "text": TOXIC}
    assert (sender.delivered, sender.failed) == (1, 0)
    assert "HTTP 503; retrying" in caplog.text.replace("(", "").replace(")", "")
    assert "receiver-own-key" not in caplog.text


def test_a_full_webhook_queue_drops_the_event_with_a_log_line_without_waiting(caplog):
    hold = threading.Event()
    with webhook_receiver(hold=hold) as receiver:
        sender = WebhookSender(receiver.url, WEBHOOK_SECRET, queue_size=1)
        sender.start()
        assert sender.submit({"message_id": "m1"})
        receiver.wait(1)  # the sender's thread is now stuck on m1
        assert sender.submit({"message_id": "m2"})
        began = time.monotonic()
        assert not sender.submit({"message_id": "m3"})
        assert time.monotonic() - began < 1.0
        hold.set()
        receiver.wait(1)
        sender.close()
    assert [json.loads(body)["message_id"] for _, body in receiver.requests] == ["m1", "m2"]
    assert sender.dropped == 1
    assert "dropped the event for message m3" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_flagged_chat_message_is_posted_to_the_webhook_and_a_clean_one_is_not():
    limits = thresholds()
    with webhook_receiver() as receiver:
        sender = WebhookSender(receiver.url, WEBHOOK_SECRET)
        sender.start()

        async def scenario():
            async with FakeIrcServer() as server:
                listener = ChatListener(
                    chat_config(server.port), on_flagged=lambda p: sender.submit(flagged_event(p, limits))
                )
                stop, running = start(listener)
                client = await server.next_client()
                await client.welcome()
                client.send(privmsg("m1", TOXIC), privmsg("m2", CLEAN))
                await client.sync()
                stop.set()
                await running

        run(scenario)
        sender.close()
    ((headers, body),) = receiver.requests
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected_signature(body))
    event = json.loads(body)
    stored = Prediction.objects.get(external_id="m1")
    assert event["prediction_id"] == stored.pk
    assert (event["event"], event["channel"], event["author"], event["text"]) == (
        "message.flagged",
        "#games",
        "Ann",
        TOXIC,
    )
    assert event["labels"] and set(event["labels"]) <= set(LABELS)
    assert all(event["scores"][label] >= limits[label] - 1e-4 for label in event["labels"])


@pytest.mark.django_db(transaction=True)
def test_sigterm_stores_the_pending_batch_and_sends_its_webhooks_before_exiting(tiny_model_path, tmp_path):
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DATABASE_URL", "TWITCH_", "TOXSITE_", "DJANGO_", "MODEL_PATH"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="toxsite.settings",
        SECRET_KEY="listen-chat-subprocess-test",
        MODEL_PATH=str(tiny_model_path),
        TWITCH_NICK="toxbot",
        TWITCH_OAUTH_TOKEN=SECRET_TOKEN,
        TOXSITE_CHAT_WEBHOOK_SECRET=WEBHOOK_SECRET,
        LOG_LEVEL="DEBUG",
    )
    read_rows = subprocess_database(env, tmp_path)

    async def scenario():
        async with FakeIrcServer() as server:
            # A batch of 1,000 or a minute: nothing is stored before SIGTERM unless shutdown flushes it.
            command = ["listen_chat", "--channel", "games", "--host", "127.0.0.1", "--port", str(server.port)]
            command += ["--no-tls", "--batch-size", "1000", "--batch-window", "60"]
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "manage.py",
                *command,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            try:
                client = await server.next_client()
                await client.welcome()
                client.send(privmsg("m1", TOXIC), privmsg("m2", CLEAN, author="bob"), privmsg("m3", "gg"))
                await client.sync()
                before = await asyncio.to_thread(read_rows, STORED_ROWS)
                process.send_signal(signal.SIGTERM)
                out, err = await process.communicate()
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            return before, process.returncode, out.decode(), err.decode()

    with webhook_receiver() as receiver:
        env["TOXSITE_CHAT_WEBHOOK_URL"] = receiver.url
        before, returncode, out, err = run(scenario, timeout=60)
    assert before == []
    assert returncode == 0, err
    rows = read_rows(STORED_ROWS)
    assert [row[:4] for row in rows] == [
        ("m1", "#games", "Ann", TOXIC),
        ("m2", "#games", "Bob", CLEAN),
        ("m3", "#games", "Ann", "gg"),
    ]
    assert "3 scored and stored" in out
    assert "SIGTERM" in err
    assert SECRET_TOKEN not in out + err
    # The webhook's thread was flushed too: one signed event per flagged row, the toxic one among them.
    events = [json.loads(body)["message_id"] for _, body in receiver.requests]
    assert "m1" in events
    assert events == [row[0] for row in rows if row[4]]
    assert all(headers[SIGNATURE_HEADER] == expected_signature(body) for headers, body in receiver.requests)


class Collected:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def submit(self, event: dict) -> bool:
        self.events.append(event)
        return True


@pytest.mark.django_db
def test_webhook_events_use_the_thresholds_in_force_when_the_message_is_flagged(moderator):
    (prediction,) = predictions_create_many(messages=[IncomingMessage(TOXIC)], source=Source.CHAT)
    collected = Collected()
    on_flagged = flagged_hook(collected)  # type: ignore[arg-type]
    on_flagged(prediction)
    before = collected.events[-1]["labels"]
    assert before
    for label in before:
        threshold_set(label=label, value=1.0, user=moderator)  # a moderator raises them while it runs
    on_flagged(prediction)
    assert not set(collected.events[-1]["labels"]) & set(before)
