from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from identity.models import PersonalAccessToken


class Command(BaseCommand):
    help = "Create a personal access token for a user and print it (on the last line)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="A label to recognise the token by.")
        parser.add_argument("--days", type=int, default=None, help="Expire after this many days.")

    def handle(self, username, name, days, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"There is no user called {username!r}.")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        _, raw = PersonalAccessToken.issue(user, name=name, expires_at=expires_at)
        self.stderr.write(f"Token {name!r} for {username}; it is shown once:")
        self.stdout.write(raw)
