import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the platform admin `admin` for the embedded default and say how to log in."

    def handle(self, **options):
        password_file = settings.DATA_DIR / "admin-password"
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser("admin", email="", password=password)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        if password_file.exists():
            how = f"password in {password_file}: {password_file.read_text().strip()}"
        else:
            how = "password: as you set it (`python manage.py changepassword admin` resets it)"
        self.stdout.write(f"Platform admin: admin, {how}")
