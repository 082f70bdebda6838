from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifier.apikeys import api_key_create
from classifier.models import ApiKey, ApiScope


class Command(BaseCommand):
    help = (
        "Create an API key and print it once on standard output (only a hash of it is kept). "
        "Store it where the client can read it; it cannot be shown again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="A unique name for the key: who or what uses it.")
        parser.add_argument(
            "--scope",
            action="append",
            choices=ApiScope.values,
            dest="scopes",
            help="What the key may do; repeat for several (default: every scope: classify and read).",
        )
        parser.add_argument(
            "--rate-limit",
            type=int,
            help="Requests per minute for this key (default: the TOXSITE_API_RATE_LIMIT setting).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        if ApiKey.objects.filter(name=name).exists():
            raise CommandError(f"An API key named {name!r} exists already; choose another name.")
        if options["rate_limit"] is not None and options["rate_limit"] < 1:
            raise CommandError("--rate-limit must be at least 1 request a minute.")
        try:
            key, full_key = api_key_create(
                name=name, scopes=options["scopes"], rate_limit=options["rate_limit"]
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(full_key)
        if options["verbosity"] >= 2:
            self.stderr.write(f"Created API key {key.name!r} with scopes {', '.join(key.scopes)}.")
