"""Seed the embedded demo: tenant `demo`, model `iris` version 1, endpoint `iris`, and a user
`demo` (an editor of the tenant) whose token, expiring, is kept in the data folder."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from applications.models import Plan
from applications.services import create_plan
from core.phase import Phase
from endpoints.models import Endpoint, ServingTemplate
from endpoints.services import create_endpoint
from identity.models import PersonalAccessToken, hash_token
from models_store.index import sync_index
from models_store.models import ModelVersion
from portal.demo import train_iris
from tenants.models import Tenant
from tenants.services import create_tenant
from tenants.tasks import reconcile_tenant
from workers.storage import get_object_store

# How long the demo user's token works; `make run` issues a new one once it has expired.
DEMO_TOKEN_DAYS = 30


class Command(BaseCommand):
    help = "Create the demo tenant, iris model, endpoint and user (if missing)."

    def handle(self, **options):
        admin = get_user_model().objects.filter(username="admin").first()
        if admin is None:
            raise CommandError("Run `manage.py bootstrap` first: the demo belongs to `admin`.")
        tenant = Tenant.objects.filter(name="demo").first()
        if tenant is None:
            tenant = create_tenant(
                name="demo", scope="demo", ca_cert="", quota={}, created_by=admin
            )
        if tenant.phase != Phase.READY:
            reconcile_tenant.apply(kwargs={"pk": tenant.pk}).get()
            tenant.refresh_from_db()
        if tenant.phase != Phase.READY:
            raise CommandError(f"The demo tenant is {tenant.phase}: {tenant.message}")

        if not ModelVersion.objects.filter(tenant=tenant, name="iris").exists():
            self.stdout.write("Training the iris classifier (scikit-learn's own data set)...")
            folder = settings.DATA_DIR / "demo"
            folder.mkdir(parents=True, exist_ok=True)
            train_iris(folder / "model.joblib")
            store = get_object_store()
            listed_after = timezone.now()
            with open(folder / "model.joblib", "rb") as model:
                size = (folder / "model.joblib").stat().st_size
                store.put_stream(tenant.bucket, "iris/1/model.joblib", model, size)
            # The index learns about it the way it learns of any object: from storage.
            sync_index(tenant, store.list_objects(tenant.bucket), listed_after)

        if not Endpoint.objects.filter(tenant=tenant, name="iris").exists():
            create_endpoint(
                tenant=tenant,
                name="iris",
                model_name="iris",
                version_policy="{latest {}}",
                serving=ServingTemplate.objects.get(name="mlserver"),
                subject_name="demo.client",
                resources={"requests": {"cpu": "250m", "memory": "512Mi"}},
                replicas=1,
                created_by=admin,
            )

        # A plan for the applications people create in the portal (platform admins add others in
        # the admin site or with POST /plans).
        if not Plan.objects.filter(name="demo").exists():
            create_plan(
                name="demo",
                description="For trying things out: 60 calls a minute, 4 at a time.",
                requests_per_minute=60,
                concurrent_requests=4,
            )

        self._token()
        self.stdout.write(
            f"Demo: tenant `demo`, endpoint `iris`; the demo user's token is in "
            f"{settings.DATA_DIR / 'demo-token'}."
        )

    def _token(self):
        """A token of the demo user (an editor of `demo`, nothing more), kept like the admin
        password in the data folder, never printed; a new one once it has expired."""
        user, _ = get_user_model().objects.get_or_create(username="demo")
        user.groups.add(Group.objects.get_or_create(name="demo")[0])  # the tenant's scope
        path = settings.DATA_DIR / "demo-token"
        if path.exists():
            raw = path.read_text().strip()
            usable = PersonalAccessToken.objects.usable().filter(user=user)
            if usable.filter(token_hash=hash_token(raw)).exists():
                return
        expires = timezone.now() + timedelta(days=DEMO_TOKEN_DAYS)
        _, raw = PersonalAccessToken.issue(user, name="demo", expires_at=expires)
        path.write_text(raw + "\n")
        path.chmod(0o600)
