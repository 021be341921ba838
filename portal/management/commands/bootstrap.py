import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the platform admin `admin` of the embedded default (password in the data folder)."
    )

    def handle(self, **options):
        password_file = settings.DATA_DIR / "admin-password"
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser("admin", email="", password=password)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
            self.stdout.write(
                f"Created the platform admin `admin`; its password is in {password_file}."
            )
