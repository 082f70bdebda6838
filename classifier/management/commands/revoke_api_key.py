from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifier.apikeys import api_keys_revoke
from classifier.models import ApiKey


class Command(BaseCommand):
    help = "Revoke an API key by name: from the next request on, it gets 401."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The key's name.")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        keys = ApiKey.objects.filter(name=name)
        key = keys.first()
        if key is None:
            raise CommandError(f"There is no API key named {name!r}; the admin's API keys page lists them.")
        if not api_keys_revoke(keys=keys):
            if options["verbosity"]:
                self.stdout.write(
                    f"API key {name!r} was revoked already, at {key.revoked_at:%Y-%m-%d %H:%M} UTC."
                )
            return
        if options["verbosity"]:
            self.stdout.write(f"Revoked API key {name!r}.")
