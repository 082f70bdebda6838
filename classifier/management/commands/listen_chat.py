import asyncio
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifier.chat import irc
from classifier.chat.listener import ChatListener, ChatLoginError, ListenerConfig, listen_until_signalled
from classifier.chat.webhook import WebhookSender, flagged_hook
from classifier.ml.model import ModelError
from classifier.scoring import current_model


class Command(BaseCommand):
    help = (
        "Watch Twitch-style IRC chat channels, score each message as it arrives and store it. "
        "Logs in as TWITCH_NICK with TWITCH_OAUTH_TOKEN from the environment, or anonymously without them. "
        "Stops on SIGINT or SIGTERM after storing what it has read."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--channel",
            action="append",
            required=True,
            metavar="NAME",
            help="A channel to join; repeat for more.",
        )
        parser.add_argument("--host", default=irc.TWITCH_HOST, help="IRC server (default: %(default)s).")
        parser.add_argument(
            "--port", type=int, help=f"Port (default: {irc.TLS_PORT} with TLS, {irc.PLAIN_PORT} without)."
        )
        parser.add_argument(
            "--no-tls", action="store_true", help="Connect without TLS, e.g. to a local server."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=200,
            help="Most messages scored together (default: %(default)s).",
        )
        parser.add_argument(
            "--batch-window",
            type=float,
            default=0.5,
            help="Longest wait in seconds for a micro-batch to fill (default: %(default)s).",
        )
        parser.add_argument(
            "--queue-size",
            type=int,
            default=10_000,
            help="Messages that may wait for the database before new ones are dropped "
            "(default: %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        config = self._config(options)
        try:
            current_model()
        except ModelError as exc:
            raise CommandError(f"{exc} {exc.hint}") from exc
        sender = self._webhook()
        listener = ChatListener(config, on_flagged=flagged_hook(sender) if sender else None)
        if sender:
            sender.start()
        try:
            stats = asyncio.run(listen_until_signalled(listener))
        except ChatLoginError as exc:
            raise CommandError(
                f"The chat server refused the login ({exc}). Check TWITCH_NICK and TWITCH_OAUTH_TOKEN, "
                "or unset both to read anonymously."
            ) from None
        finally:
            if sender:
                sender.close()
        if options["verbosity"]:
            self.stdout.write(
                f"Stopped: {stats.received} messages received, {stats.scored} scored and stored, "
                f"{stats.flagged} flagged, {stats.duplicates} already stored, {stats.dropped} dropped "
                f"(queue full), {stats.lost} lost (database errors)."
            )
            if sender:
                self.stdout.write(
                    f"Webhook: {sender.delivered} events delivered, {sender.failed} failed, "
                    f"{sender.dropped} dropped (queue full)."
                )

    def _config(self, options: dict[str, Any]) -> ListenerConfig:
        try:
            channels = tuple(dict.fromkeys(irc.channel_name(name) for name in options["channel"]))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        nick, token = settings.TWITCH_NICK, settings.TWITCH_OAUTH_TOKEN
        if bool(nick) != bool(token):
            raise CommandError(
                "Set both TWITCH_NICK and TWITCH_OAUTH_TOKEN in the environment, or neither to read "
                "anonymously."
            )
        try:
            if token:
                irc.nick_name(nick)
                irc.oauth_password(token)
        except ValueError as exc:  # the messages never repeat the token
            raise CommandError(str(exc)) from None
        if options["batch_size"] < 1 or options["queue_size"] < 1:
            raise CommandError("--batch-size and --queue-size must be at least 1.")
        if options["batch_window"] <= 0:
            raise CommandError("--batch-window must be more than 0 seconds.")
        tls = not options["no_tls"]
        port = options["port"] or (irc.TLS_PORT if tls else irc.PLAIN_PORT)
        if not 0 < port < 65536:
            raise CommandError("--port must be between 1 and 65535.")
        return ListenerConfig(
            channels=channels,
            host=options["host"],
            port=port,
            tls=tls,
            nick=nick,
            token=token,
            batch_size=options["batch_size"],
            batch_window=options["batch_window"],
            queue_size=options["queue_size"],
        )

    def _webhook(self) -> WebhookSender | None:
        if not settings.CHAT_WEBHOOK_URL:
            return None
        if not settings.CHAT_WEBHOOK_SECRET:
            raise CommandError(
                "TOXSITE_CHAT_WEBHOOK_URL is set but TOXSITE_CHAT_WEBHOOK_SECRET is not: set a long random "
                "secret shared with the receiver, which checks the X-Toxsite-Signature-256 header with it."
            )
        try:
            return WebhookSender(settings.CHAT_WEBHOOK_URL, settings.CHAT_WEBHOOK_SECRET)
        except ValueError as exc:
            raise CommandError(f"TOXSITE_CHAT_WEBHOOK_URL: {exc}") from None
