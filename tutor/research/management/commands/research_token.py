from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.authtoken.models import Token

from tutor import roles


class Command(BaseCommand):
    help = (
        "Print a researcher's API token for the research API (header 'Authorization: Token <token>'), "
        "creating it if needed. --rotate replaces it (the old token stops working)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="Replace the existing token with a new one.")

    def handle(self, *args: Any, **opts: Any) -> None:
        user = get_user_model().objects.filter(username=opts["username"]).first()
        if user is None:
            raise CommandError(f"No user {opts['username']!r}.")
        if not user.is_active:
            raise CommandError(f"{user.username} is inactive.")
        if not roles.is_researcher(user):
            raise CommandError(f"{user.username} is not a researcher; an administrator grants the role first.")
        if opts["rotate"]:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
