"""The Twitch dialect of IRC: parse the lines a server sends and format the ones a client sends.

Pure functions only, so every rule of the protocol can be tested without a socket. A received line looks like
``@id=42;display-name=Ann :ann!ann@ann.tmi.twitch.tv PRIVMSG #games :hello``: IRCv3 tags, a prefix, a
command and its parameters, the last of which may hold spaces when it starts with ``:``.
"""

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

TWITCH_HOST = "irc.chat.twitch.tv"
TLS_PORT = 6697
PLAIN_PORT = 6667
CAPABILITIES = "twitch.tv/tags twitch.tv/commands"
# Twitch answers a PASS/NICK pair it refuses with one of these NOTICEs, then closes the connection.
LOGIN_FAILURES = ("Login authentication failed", "Improperly formatted auth", "Invalid NICK")
# Twitch lets a client join 20 channels per 10 seconds.
JOIN_CHUNK = 20

_NAME = re.compile(r"[a-z0-9_]{1,50}")
_TOKEN = re.compile(r"[\x21-\x7e]+")
_TAG_KEY = re.compile(r"\+?[A-Za-z0-9./-]+")
_ESCAPED = re.compile(r"\\(.?)", re.DOTALL)
_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_ESCAPES = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})


class IrcParseError(ValueError):
    """A received line is not IRC."""


@dataclass(frozen=True)
class IrcMessage:
    """One parsed line: tags, prefix, command (upper case) and parameters (the trailing one last)."""

    command: str
    params: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    prefix: str = ""

    @property
    def nick(self) -> str:
        """Return the nick of a ``nick!user@host`` prefix (or the server name of a server's prefix)."""
        return self.prefix.partition("!")[0]


@dataclass(frozen=True)
class ChatMessage:
    """What a PRIVMSG says: who wrote what in which channel, with the platform's id and send time."""

    channel: str
    author: str
    text: str
    message_id: str = ""
    sent_at: datetime | None = None


def unescape_tag_value(value: str) -> str:
    r"""Undo IRCv3 tag escaping: ``\:`` is ``;``, ``\s`` a space, ``\\`` a backslash, ``\r`` and ``\n``.

    A backslash before any other character is dropped, and so is a lone one at the end, as the spec says.
    """
    if "\\" not in value:
        return value
    return _ESCAPED.sub(lambda match: _UNESCAPES.get(match[1], match[1]), value)


def escape_tag_value(value: str) -> str:
    """Escape a tag value so that it fits in a line; the inverse of :func:`unescape_tag_value`."""
    return value.translate(_ESCAPES)


def parse_line(line: str) -> IrcMessage:
    """Parse one received line (with or without its CRLF); raise ``IrcParseError`` when it has no command."""
    rest = line.rstrip("\r\n")
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw, _, rest = rest[1:].partition(" ")
        for item in raw.split(";"):
            if item:
                key, _, value = item.partition("=")
                tags[key] = unescape_tag_value(value)
        rest = rest.lstrip(" ")
    prefix = ""
    if rest.startswith(":"):
        prefix, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    head, separator, trailing = rest.partition(" :")
    words = head.split()
    if not words:
        raise IrcParseError(f"Not an IRC line: {line[:80]!r}")
    params = (*words[1:], trailing) if separator else tuple(words[1:])
    return IrcMessage(command=words[0].upper(), params=params, tags=tags, prefix=prefix)


def format_line(
    command: str,
    *params: str,
    tags: Mapping[str, str] | None = None,
    prefix: str = "",
    trailing: bool = False,
) -> str:
    """Return one IRC line ending in CRLF.

    The last parameter is sent after ``:`` when it needs to be (spaces, empty, a leading colon) or when
    ``trailing`` asks for it. A parameter or tag that would end the line early or split it differently raises
    ``ValueError``: nothing read from a user can inject a second command.
    """
    for param in (command, prefix, *params):
        if any(char in param for char in "\r\n\x00"):
            raise ValueError("An IRC parameter cannot hold CR, LF or NUL.")
    if any("\x00" in value for value in (tags or {}).values()):
        raise ValueError("An IRC tag value cannot hold NUL.")
    for middle in (command, *params[:-1]):
        if not middle or " " in middle or middle.startswith(":"):
            raise ValueError(f"{middle!r} cannot be a command or a middle IRC parameter.")
    parts = []
    if tags:
        if not all(_TAG_KEY.fullmatch(key) for key in tags):
            raise ValueError("An IRC tag key holds only letters, digits, '.', '/' and '-'.")
        parts.append("@" + ";".join(f"{key}={escape_tag_value(value)}" for key, value in tags.items()))
    if prefix:
        parts.append(":" + prefix)
    parts.extend((command, *params[:-1]))
    if params:
        last = params[-1]
        needs_colon = trailing or not last or " " in last or last.startswith(":")
        parts.append(":" + last if needs_colon else last)
    return " ".join(parts) + "\r\n"


def channel_name(name: str) -> str:
    """Return ``#name`` in lower case; raise ``ValueError`` unless it is a Twitch-style channel name."""
    bare = name.strip().lower().removeprefix("#")
    if not _NAME.fullmatch(bare):
        raise ValueError(f"{name!r} is not a channel name: use letters, digits and underscores only.")
    return "#" + bare


def nick_name(nick: str) -> str:
    """Return ``nick`` in lower case; raise ``ValueError`` unless it is a Twitch-style login name."""
    lowered = nick.strip().lower()
    if not _NAME.fullmatch(lowered):
        raise ValueError("The nick must be a Twitch login name: letters, digits and underscores only.")
    return lowered


def oauth_password(token: str) -> str:
    """Return the PASS parameter for ``token``, with or without its ``oauth:`` prefix.

    The error message never repeats the token.
    """
    bare = token.strip()
    if bare.lower().startswith("oauth:"):
        bare = bare[len("oauth:") :]
    if not _TOKEN.fullmatch(bare):
        raise ValueError("The OAuth token must be printable ASCII without spaces, e.g. oauth:abc123.")
    return "oauth:" + bare


def anonymous_nick(rng: random.Random | None = None) -> str:
    """Return a ``justinfanNNNN`` nick: Twitch's read-only login that needs no token."""
    return f"justinfan{(rng or random).randint(1000, 99999)}"


def login_lines(nick: str, password: str = "") -> list[str]:
    """Return the lines that log in: ask for tags and commands, then PASS (unless anonymous) and NICK."""
    lines = [format_line("CAP", "REQ", CAPABILITIES)]
    if password:
        lines.append(format_line("PASS", password))
    lines.append(format_line("NICK", nick))
    return lines


def join_lines(channels: list[str]) -> list[str]:
    """Return JOIN lines of up to ``JOIN_CHUNK`` comma-separated channels each."""
    return [
        format_line("JOIN", ",".join(channels[start : start + JOIN_CHUNK]))
        for start in range(0, len(channels), JOIN_CHUNK)
    ]


def pong_line(ping: IrcMessage) -> str:
    """Return the answer to a PING: the same parameter back (``PONG :tmi.twitch.tv``)."""
    return format_line("PONG", *ping.params, trailing=True)


def ping_line(token: str) -> str:
    """Return a PING the client sends to check that a quiet connection is still alive."""
    return format_line("PING", token, trailing=True)


def is_login_failure(message: IrcMessage) -> bool:
    """Return whether ``message`` is the NOTICE a server sends when it refuses the login."""
    return (
        message.command == "NOTICE" and bool(message.params) and message.params[-1].startswith(LOGIN_FAILURES)
    )


def chat_message(message: IrcMessage) -> ChatMessage | None:
    """Return the chat message a PRIVMSG carries, or ``None`` for any other line.

    The author is the ``display-name`` tag, else the prefix's nick; ``/me`` actions lose their CTCP wrapping.
    """
    if message.command != "PRIVMSG" or len(message.params) < 2:
        return None
    text = message.params[-1]
    if text.startswith("\x01ACTION ") and text.endswith("\x01"):
        text = text[len("\x01ACTION ") : -1]
    return ChatMessage(
        channel=message.params[0],
        author=message.tags.get("display-name") or message.nick,
        text=text,
        message_id=message.tags.get("id", ""),
        sent_at=_timestamp(message.tags.get("tmi-sent-ts", "")),
    )


def _timestamp(milliseconds: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(milliseconds) / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
