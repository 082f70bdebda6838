"""The live-chat listener against a local IRC server written in tests/chat_support.py.

Each scenario runs under one timeout, and waits for events (a PONG, a log record, a closed connection)
instead of sleeping.
"""

import asyncio
import logging
import socket
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError

from classifier.chat.batches import STORE_ATTEMPTS, ChatStats
from classifier.chat.listener import ChatListener, ChatLoginError
from classifier.management.commands.listen_chat import Command as ListenChat
from classifier.models import Prediction
from classifier.services import IncomingMessage
from tests.chat_support import (
    CLEAN,
    SECRET_TOKEN,
    TIMEOUT,
    TOXIC,
    FakeIrcServer,
    RecordWaiter,
    chat_config,
    privmsg,
    remembering_store,
    run,
    start,
    stored_rows,
)


@pytest.mark.django_db(transaction=True)
def test_messages_are_stored_with_channel_author_message_id_and_send_time():
    async def scenario():
        async with FakeIrcServer() as server:
            stop, running = start(ChatListener(chat_config(server.port)))
            client = await server.next_client()
            join = await client.welcome()
            client.send(
                privmsg("m1", TOXIC, author="ann", display_name="Ann"),
                ":tmi.twitch.tv USERNOTICE #games :not a chat message",
                privmsg("m2", CLEAN, author="bob", display_name=""),
                privmsg("m3", "   ", author="bob"),
                privmsg("m4", "\u200b\u2060", author="bob"),
            )
            await client.sync()
            stop.set()
            return join, await running

    join, stats = run(scenario)
    assert join.params == ("#games",)
    assert stored_rows() == [("m1", "#games", "Ann", TOXIC, "chat"), ("m2", "#games", "bob", CLEAN, "chat")]
    toxic = Prediction.objects.get(external_id="m1")
    assert toxic.flagged
    assert toxic.created_at.timestamp() == 1700000000.123
    assert (stats.received, stats.scored, stats.flagged) == (4, 2, 1)  # the blank ones are not stored


def test_ping_is_answered_and_login_asks_for_tags_anonymously():
    async def scenario():
        async with FakeIrcServer() as server:
            stop, running = start(ChatListener(chat_config(server.port), store=remembering_store([])))
            client = await server.next_client()
            await client.welcome()
            client.send("PING :tmi.twitch.tv")
            await client.expect("PONG")
            stop.set()
            await running
            return client.received

    received = run(scenario)
    assert received[0] == "CAP REQ :twitch.tv/tags twitch.tv/commands"
    assert received[1].startswith("NICK justinfan")
    assert not any(line.startswith("PASS") for line in received)
    assert received[-1] == "PONG :tmi.twitch.tv"


@pytest.mark.django_db(transaction=True)
def test_after_a_dropped_connection_the_listener_reconnects_and_stores_no_duplicate():
    async def scenario():
        async with FakeIrcServer() as server:
            stop, running = start(ChatListener(chat_config(server.port)))
            first = await server.next_client()
            await first.welcome()
            first.send(privmsg("m1", TOXIC), privmsg("m2", CLEAN))
            await first.sync()
            first.drop()
            second = await server.next_client()
            join = await second.welcome()
            # Twitch does not replay chat, but a relay or a bouncer may: m2 comes again.
            second.send(privmsg("m2", CLEAN), privmsg("m3", "gg well played"))
            await second.sync()
            stop.set()
            return join, await running

    join, stats = run(scenario)
    assert join.params == ("#games",)
    assert [row[0] for row in stored_rows()] == ["m1", "m2", "m3"]
    assert (stats.received, stats.scored, stats.duplicates) == (4, 3, 1)


def test_reconnect_command_makes_the_listener_rejoin_on_a_new_connection():
    stored: list[IncomingMessage] = []

    async def scenario():
        async with FakeIrcServer() as server:
            stop, running = start(ChatListener(chat_config(server.port), store=remembering_store(stored)))
            first = await server.next_client()
            await first.welcome()
            first.send(privmsg("m1", CLEAN), ":tmi.twitch.tv RECONNECT")
            assert await first.hung_up()
            second = await server.next_client()
            join = await second.welcome()
            second.send(privmsg("m2", CLEAN))
            await second.sync()
            stop.set()
            await running
            return join

    assert run(scenario).params == ("#games",)
    assert [m.external_id for m in stored] == ["m1", "m2"]


def test_a_silent_server_is_pinged_then_left_for_a_new_connection():
    async def scenario():
        async with FakeIrcServer() as server:
            config = chat_config(server.port, idle_timeout=0.2)
            stop, running = start(ChatListener(config, store=remembering_store([])))
            first = await server.next_client()
            await first.welcome()
            ping = await first.expect("PING")
            assert await first.hung_up()
            await (await server.next_client()).welcome()
            stop.set()
            await running
            return ping

    assert run(scenario).params == ("toxsite",)


def test_a_refused_connection_is_retried_with_growing_delays_until_the_server_is_up():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario():
        with RecordWaiter() as waiter:
            config = chat_config(port, backoff_base=0.02, backoff_cap=1.0)
            stop, running = start(ChatListener(config, store=remembering_store([])))
            retries = await waiter.wait(lambda r: "reconnecting in" in r.getMessage(), count=3)
            async with FakeIrcServer(port) as server:
                await (await server.next_client()).welcome()
                stop.set()
                await running
            return retries

    retries = run(scenario)
    assert "ConnectionRefusedError" in retries[0].getMessage()
    delays = [record.args[-1] for record in retries[:3]]
    assert 0.02 <= delays[0] <= delays[1] <= delays[2] <= 0.16


def test_a_slow_database_never_stalls_reading_and_a_full_queue_drops_with_a_log_line(caplog):
    started, release = threading.Event(), threading.Event()
    stored: list[IncomingMessage] = []
    remember = remembering_store(stored)

    def slow_store(messages: list[IncomingMessage]) -> list[Prediction]:
        started.set()
        release.wait(TIMEOUT)
        return remember(messages)

    async def scenario():
        async with FakeIrcServer() as server:
            config = chat_config(server.port, queue_size=5, batch_size=2, batch_window=0.01)
            listener = ChatListener(config, store=slow_store)
            stop, running = start(listener)
            client = await server.next_client()
            await client.welcome()
            client.send(privmsg("m0", CLEAN))
            assert await asyncio.to_thread(started.wait, TIMEOUT)
            client.send(*(privmsg(f"m{n}", CLEAN) for n in range(1, 10)))
            await client.sync()  # answered while the database is still stuck on m0
            dropped_while_stuck = listener.stats.dropped
            release.set()
            stop.set()
            return dropped_while_stuck, await running

    dropped_while_stuck, stats = run(scenario)
    assert dropped_while_stuck == 4
    assert [m.external_id for m in stored] == ["m0", "m1", "m2", "m3", "m4", "m5"]
    assert (stats.received, stats.scored, stats.dropped) == (10, 6, 4)
    assert "dropping new ones" in caplog.text


@pytest.mark.parametrize(("failures", "stored_ids", "lost"), [(2, ["m1", "m2"], 0), (99, [], 2)])
def test_a_failed_write_is_retried_with_backoff_and_given_up_with_a_log_line(
    caplog, failures, stored_ids, lost
):
    stored: list[IncomingMessage] = []
    remember = remembering_store(stored)
    calls: list[int] = []

    def flaky_store(messages: list[IncomingMessage]) -> list[Prediction]:
        calls.append(len(messages))
        if len(calls) <= failures:
            raise OperationalError("database is locked")
        return remember(messages)

    async def scenario():
        async with FakeIrcServer() as server:
            stop, running = start(ChatListener(chat_config(server.port), store=flaky_store))
            client = await server.next_client()
            await client.welcome()
            client.send(privmsg("m1", CLEAN), privmsg("m2", CLEAN))
            await client.sync()
            stop.set()
            return await running

    stats = run(scenario)
    assert [m.external_id for m in stored] == stored_ids
    assert (stats.scored, stats.lost) == (len(stored_ids), lost)
    assert calls == [2] * min(failures + 1, STORE_ATTEMPTS)
    assert "database is locked" in caplog.text
    assert ("gave up storing 2 messages" in caplog.text) == bool(lost)


def test_a_log_line_reports_counts_each_interval_and_they_add_up():
    async def scenario():
        with RecordWaiter() as waiter:
            async with FakeIrcServer() as server:
                config = chat_config(server.port, stats_interval=0.05)
                stop, running = start(ChatListener(config, store=remembering_store([])))
                client = await server.next_client()
                await client.welcome()
                client.send(privmsg("m1", TOXIC), privmsg("m2", CLEAN), privmsg("m3", CLEAN))
                await client.sync()
                await waiter.wait(lambda r: getattr(r, "chat_stats", ChatStats()).scored > 0)
                stop.set()
                await running
            return [r for r in waiter.records if hasattr(r, "chat_stats")]

    reports = run(scenario)
    assert len(reports) >= 2  # at least one periodic line and the one at shutdown
    assert all("received" in r.getMessage() and "flagged" in r.getMessage() for r in reports)
    totals = [sum(getattr(r.chat_stats, name) for r in reports) for name in ("received", "scored", "flagged")]
    assert totals == [3, 3, 1]


@pytest.mark.django_db(transaction=True)
def test_the_token_is_sent_to_the_server_but_never_logged_or_printed(caplog, capfd):
    caplog.set_level(logging.DEBUG)
    config = chat_config(0, nick="ToxBot", token=SECRET_TOKEN)

    async def scenario():
        async with FakeIrcServer() as server:
            stop, running = start(ChatListener(chat_config(server.port, nick="ToxBot", token=SECRET_TOKEN)))
            first = await server.next_client()
            password = await first.expect("PASS")
            await first.welcome()
            first.send(privmsg("m1", TOXIC))
            await first.sync()
            first.drop()
            await (await server.next_client()).welcome()
            stop.set()
            return password, first.received, await running

    password, received, stats = run(scenario)
    assert password.params == (f"oauth:{SECRET_TOKEN}",)
    assert "NICK toxbot" in received
    assert stats.scored == 1
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err, repr(config), repr(stats)):
        assert SECRET_TOKEN not in text
    assert "connected to 127.0.0.1" in caplog.text  # the logs were captured, and are not just empty


def test_a_refused_login_ends_the_listener_with_an_error_that_hides_the_token(caplog):
    caplog.set_level(logging.DEBUG)

    async def scenario():
        async with FakeIrcServer() as server:
            listener = ChatListener(chat_config(server.port, nick="toxbot", token=f"oauth:{SECRET_TOKEN}"))
            _, running = start(listener)
            client = await server.next_client()
            await client.expect("NICK")
            client.send(":tmi.twitch.tv NOTICE * :Login authentication failed")
            with pytest.raises(ChatLoginError, match="Login authentication failed") as refused:
                await running
            return refused.value

    error = run(scenario)
    assert SECRET_TOKEN not in str(error)
    assert SECRET_TOKEN not in caplog.text


def test_the_listener_speaks_tls_unless_told_not_to():
    async def scenario():
        async with FakeIrcServer() as server:
            stop, running = start(
                ChatListener(chat_config(server.port, tls=True), store=remembering_store([]))
            )
            client = await server.next_client()
            first_bytes = await client.reader.readexactly(3)
            stop.set()
            await running
            return first_bytes

    # A TLS handshake record (0x16) of TLS 1.x (0x03 0x01-0x03), where a plain login would start "CAP".
    assert run(scenario)[:2] == b"\x16\x03"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], ("irc.chat.twitch.tv", 6697, True)),
        (["--no-tls"], ("irc.chat.twitch.tv", 6667, False)),
        (["--host", "127.0.0.1", "--port", "7000", "--no-tls"], ("127.0.0.1", 7000, False)),
    ],
)
def test_listen_chat_defaults_to_twitch_chat_over_tls(options, expected):
    command = ListenChat()
    parsed = command.create_parser("manage.py", "listen_chat").parse_args(["--channel", "Games", *options])
    config = command._config(vars(parsed))
    assert (config.host, config.port, config.tls) == expected
    assert config.channels == ("#games",)


@pytest.mark.parametrize(
    ("overrides", "options", "message"),
    [
        ({}, ["--channel", "two words"], "not a channel name"),
        ({"TWITCH_OAUTH_TOKEN": SECRET_TOKEN}, ["--channel", "games"], "Set both TWITCH_NICK and"),
        ({"TWITCH_NICK": "toxbot", "TWITCH_OAUTH_TOKEN": "has space"}, ["--channel", "games"], "OAuth token"),
        ({"CHAT_WEBHOOK_URL": "https://hooks.example/x"}, ["--channel", "games"], "WEBHOOK_SECRET is not"),
        (
            {"CHAT_WEBHOOK_URL": "file:///etc/passwd", "CHAT_WEBHOOK_SECRET": "s"},
            ["--channel", "games"],
            "must start with https://",
        ),
        ({}, ["--channel", "games", "--batch-size", "0"], "at least 1"),
    ],
)
@pytest.mark.django_db  # the command reads the moderators' threshold policy
def test_listen_chat_refuses_a_bad_configuration_before_connecting(settings, overrides, options, message):
    for name, value in overrides.items():
        setattr(settings, name, value)
    with pytest.raises(CommandError, match=message) as refused:
        call_command("listen_chat", *options)
    assert SECRET_TOKEN not in str(refused.value)
