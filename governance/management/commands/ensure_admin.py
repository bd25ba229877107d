"""Create the first administrator if there is none, and print its password once."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser

from core import roles


class Command(BaseCommand):
    help = "Create an 'admin' superuser with a random password (printed once) unless an administrator exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@localhost")

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        roles.sync_roles()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An administrator already exists; no account created.")
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(options["username"], options["email"], password)
        user.groups.add(Group.objects.get(name=roles.ADMINISTRATOR))
        bar = "=" * 64
        self.stdout.write(
            f"{bar}\n Administrator account created (shown only this once)\n"
            f"   username: {options['username']}\n   password: {password}\n{bar}"
        )
