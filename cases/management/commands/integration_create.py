from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.models import Integration
from cases.services.integrations import integration_create


class Command(BaseCommand):
    help = "Create a bot integration and print its API key (shown once, stored only hashed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--callback-url", default="", help="Where callbacks are POSTed.")
        parser.add_argument(
            "--platform",
            default="",
            choices=[value for value in Integration.Platform.values if value],
            help="Send callbacks in this bot platform's own form (default: the desk's).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name:
            raise CommandError("The integration needs a name.")
        if Integration.objects.filter(name=name).exists():
            raise CommandError(f"An integration named {name!r} exists already.")
        integration, raw_key = integration_create(
            name=name, callback_url=options["callback_url"], platform=options["platform"]
        )
        self.stdout.write(f"Integration {integration.name!r} created (id {integration.pk}).")
        self.stdout.write(f"API key (shown once, keep it safe): {raw_key}")
        self.stdout.write(f"Callback signing secret: {integration.signing_secret}")
