import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from classifier.chat import irc
from classifier.chat.backoff import backoff_delay

TWITCH_PRIVMSG = (
    "@badge-info=;badges=moderator/1;color=#FF0000;display-name=Ann\\sB;emotes=;"
    "id=b34ccfc7-4977-403a-8a94-33c6bac34fb8;mod=1;room-id=1337;subscriber=0;"
    "tmi-sent-ts=1700000000123;turbo=0;user-id=42;user-type=mod "
    ":ann_b!ann_b@ann_b.tmi.twitch.tv PRIVMSG #games :you are a complete idiot\r\n"
)


def test_a_tagged_privmsg_is_parsed_into_tags_prefix_command_and_params():
    message = irc.parse_line(TWITCH_PRIVMSG)
    assert message.command == "PRIVMSG"
    assert message.params == ("#games", "you are a complete idiot")
    assert message.prefix == "ann_b!ann_b@ann_b.tmi.twitch.tv"
    assert message.nick == "ann_b"
    assert message.tags["id"] == "b34ccfc7-4977-403a-8a94-33c6bac34fb8"
    assert message.tags["badge-info"] == ""
    assert message.tags["display-name"] == "Ann B"


def test_a_privmsg_becomes_a_chat_message_with_id_author_channel_and_send_time():
    chat = irc.chat_message(irc.parse_line(TWITCH_PRIVMSG))
    assert chat == irc.ChatMessage(
        channel="#games",
        author="Ann B",
        text="you are a complete idiot",
        message_id="b34ccfc7-4977-403a-8a94-33c6bac34fb8",
        sent_at=datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC),
    )


def test_the_author_falls_back_to_the_prefix_nick_without_a_display_name():
    for line in (":bob!bob@host PRIVMSG #games :hi", "@display-name=;id=1 :bob!bob@host PRIVMSG #games :hi"):
        chat = irc.chat_message(irc.parse_line(line))
        assert chat is not None
        assert chat.author == "bob"


def test_missing_or_bad_tags_give_no_id_and_no_send_time():
    chat = irc.chat_message(irc.parse_line("@tmi-sent-ts=soon :bob!bob@host PRIVMSG #games :hi"))
    assert chat is not None
    assert (chat.message_id, chat.sent_at) == ("", None)


def test_a_me_action_loses_its_ctcp_wrapping():
    chat = irc.chat_message(irc.parse_line(":bob!bob@host PRIVMSG #games :\x01ACTION waves at chat\x01"))
    assert chat is not None
    assert chat.text == "waves at chat"


def test_a_trailing_parameter_keeps_colons_and_extra_spaces():
    message = irc.parse_line(":bob!b@h PRIVMSG #games ::)  see  you: later")
    assert message.params == ("#games", ":)  see  you: later")


@pytest.mark.parametrize(
    ("escaped", "value"),
    [
        (r"a\sb", "a b"),
        (r"semi\:colon", "semi;colon"),
        (r"back\\slash", "back\\slash"),
        (r"line\rbreak\n", "line\rbreak\n"),
        (r"unknown\xescape", "unknownxescape"),
        ("trailing\\", "trailing"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_tag_values_are_unescaped(escaped, value):
    assert irc.unescape_tag_value(escaped) == value


@given(st.text(st.characters(exclude_characters="\x00")))
def test_escaping_a_tag_value_round_trips_through_a_parsed_line(value):
    line = irc.format_line("PRIVMSG", "#games", "hi", tags={"id": "1", "display-name": value})
    assert line.count("\n") == 1
    assert irc.parse_line(line).tags["display-name"] == value


def test_a_tag_without_a_value_is_empty_and_the_last_duplicate_wins():
    message = irc.parse_line("@flag;id=1;id=2 :tmi.twitch.tv PRIVMSG #games :hi")
    assert dict(message.tags) == {"flag": "", "id": "2"}


def test_ping_is_answered_with_the_same_parameter():
    ping = irc.parse_line("PING :tmi.twitch.tv\r\n")
    assert ping.command == "PING"
    assert irc.pong_line(ping) == "PONG :tmi.twitch.tv\r\n"


def test_reconnect_is_parsed_as_a_command_without_parameters():
    message = irc.parse_line(":tmi.twitch.tv RECONNECT\r\n")
    assert (message.command, message.params, message.prefix) == ("RECONNECT", (), "tmi.twitch.tv")
    assert irc.chat_message(message) is None


def test_login_failure_notice_is_recognised():
    refused = irc.parse_line(":tmi.twitch.tv NOTICE * :Login authentication failed")
    other = irc.parse_line(":tmi.twitch.tv NOTICE #games :This room is now in slow mode.")
    assert irc.is_login_failure(refused)
    assert not irc.is_login_failure(other)


@pytest.mark.parametrize("line", ["", "\r\n", "@id=1 ", ":prefix.only "])
def test_a_line_without_a_command_is_a_parse_error(line):
    with pytest.raises(irc.IrcParseError):
        irc.parse_line(line)


def test_login_asks_for_tags_and_commands_then_sends_pass_and_nick():
    assert irc.login_lines("toxbot", irc.oauth_password("abc123")) == [
        "CAP REQ :twitch.tv/tags twitch.tv/commands\r\n",
        "PASS oauth:abc123\r\n",
        "NICK toxbot\r\n",
    ]


def test_an_anonymous_login_sends_no_pass_and_a_justinfan_nick():
    nick = irc.anonymous_nick(random.Random(1))
    lines = irc.login_lines(nick)
    assert nick.startswith("justinfan") and nick[len("justinfan") :].isdigit()
    assert [line.split()[0] for line in lines] == ["CAP", "NICK"]


@pytest.mark.parametrize("token", ["oauth:abc123", "abc123", "  OAuth:abc123 "])
def test_the_oauth_prefix_is_added_once(token):
    assert irc.oauth_password(token) == "oauth:abc123"


@pytest.mark.parametrize("token", ["s3cr3t 123", "s3cr3t\r\nJOIN #other", "oauth:", "tökén"])
def test_a_malformed_token_is_refused_without_repeating_it(token):
    with pytest.raises(ValueError, match="OAuth token") as caught:
        irc.oauth_password(token)
    assert "s3cr3t" not in str(caught.value) and "tökén" not in str(caught.value)


@pytest.mark.parametrize(("name", "channel"), [("Games", "#games"), ("#some_stream42", "#some_stream42")])
def test_channel_names_are_lower_case_with_a_hash(name, channel):
    assert irc.channel_name(name) == channel


@pytest.mark.parametrize("name", ["", "#", "two words", "games\r\nPRIVMSG #x :spam", "a,b", "x" * 51])
def test_a_channel_name_that_could_break_the_line_is_refused(name):
    with pytest.raises(ValueError, match="not a channel name"):
        irc.channel_name(name)


def test_channels_are_joined_twenty_per_line():
    channels = [f"#c{n}" for n in range(45)]
    lines = irc.join_lines(channels)
    assert [len(line.split()[1].split(",")) for line in lines] == [20, 20, 5]
    assert lines[0].startswith("JOIN #c0,#c1,")


@pytest.mark.parametrize("param", ["two\r\nlines", "nul\x00"])
def test_format_line_refuses_a_parameter_that_would_inject_a_command(param):
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        irc.format_line("PRIVMSG", "#games", param)


def test_format_line_puts_a_colon_before_a_last_parameter_with_spaces():
    assert irc.format_line("PRIVMSG", "#games", "hello chat") == "PRIVMSG #games :hello chat\r\n"
    assert irc.format_line("JOIN", "#games") == "JOIN #games\r\n"
    with pytest.raises(ValueError, match="middle"):
        irc.format_line("PRIVMSG", "#games x", "hi")


def test_backoff_doubles_up_to_the_cap_with_jitter():
    rng = random.Random(7)
    delays = [backoff_delay(attempt, base=1.0, cap=8.0, rng=rng) for attempt in range(6)]
    for attempt, delay in enumerate(delays):
        ceiling = min(8.0, 2.0**attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays)) == len(delays)
