import sys

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from identity.models import OidcIdentity


class Command(BaseCommand):
    help = (
        "Create or change a local account (one that signs in with a password or a personal "
        "access token, not through the OpenID provider) and set its groups, which the tenants' "
        "bindings turn into roles. People from the provider get their groups from it instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--groups",
            help="Comma-separated: the account's groups from now on (missing ones are created); "
            "'' removes them all. Left alone when not given.",
        )
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the account's new password from the first line of standard input.",
        )

    def handle(self, username, groups, password_stdin, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is not None and OidcIdentity.objects.filter(user=user).exists():
            raise CommandError(
                f"{username} signs in through the OpenID provider, which sets their groups at "
                "every sign-in: change them there."
            )
        password = self._read_password(user or User(username=username)) if password_stdin else None
        with transaction.atomic():
            created = user is None
            if created:
                user = User.objects.create_user(username, password=password)
            elif password is not None:
                user.set_password(password)
                user.save(update_fields=["password"])
            if groups is not None:
                names = sorted({name.strip() for name in groups.split(",") if name.strip()})
                user.groups.set([Group.objects.get_or_create(name=name)[0] for name in names])
        current = ", ".join(user.groups.order_by("name").values_list("name", flat=True))
        self.stdout.write(
            f"{'Created' if created else 'Changed'} the local account {username}; "
            f"groups: {current or 'none'}."
        )
        if not user.has_usable_password():
            self.stdout.write(
                "It has no password: sign in with a token (manage.py create_token "
                f"{username}), or give it one with --password-stdin."
            )

    def _read_password(self, user):
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise CommandError("No password on standard input.")
        try:
            password_validation.validate_password(password, user)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        return password
