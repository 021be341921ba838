"""Seed the embedded demo: tenant `demo`, model `iris` version 1, endpoint `iris`, the language
model and endpoint `tiny-chat` (unless MODELPORT_DEMO_LLM is false), and a user `demo` (an editor
of the tenant) whose token, expiring, is kept in the data folder."""

import tempfile
from datetime import timedelta
from pathlib import Path

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
from portal.demo import make_tiny_llm, train_iris
from tenants.models import Tenant
from tenants.services import create_tenant
from tenants.tasks import reconcile_tenant
from workers.storage import get_object_store

# How long the demo user's token works; `make run` issues a new one once it has expired.
DEMO_TOKEN_DAYS = 30


class Command(BaseCommand):
    help = "Create the demo tenant, its models, endpoints and user (if missing)."

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
            _upload(tenant, "iris/1/model.joblib", folder / "model.joblib")
        _serve(tenant, "iris", admin)

        if settings.MODELPORT_DEMO_LLM:
            self._tiny_chat(tenant, admin)

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
        endpoints = (
            "endpoints `iris` and `tiny-chat`" if settings.MODELPORT_DEMO_LLM else "endpoint `iris`"
        )
        self.stdout.write(
            f"Demo: tenant `demo`, {endpoints}; the demo user's token is in "
            f"{settings.DATA_DIR / 'demo-token'}."
        )

    def _tiny_chat(self, tenant, admin):
        """tiny-chat: a language model made on this machine, served by llama-cpp-python."""
        if not ModelVersion.objects.filter(tenant=tenant, name="tiny-chat").exists():
            if not Path(settings.MODELPORT_LLAMA_PYTHON).exists():
                raise CommandError(
                    f"llama-cpp-python's server is not installed at "
                    f"{settings.MODELPORT_LLAMA_PYTHON}: `make llm-server` builds it, or set "
                    "MODELPORT_DEMO_LLM=false to seed the demo without tiny-chat."
                )
            self.stdout.write("Making tiny-chat, a tiny language model (a character bigram)...")
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "tiny-chat.gguf"
                make_tiny_llm(path)
                _upload(tenant, "tiny-chat/1/tiny-chat.gguf", path)
        _serve(tenant, "tiny-chat", admin, serving="vllm")

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


def _upload(tenant, key, path):
    """Put the file at `path` into the tenant's storage as `key` (<model>/<version>/<file>)."""
    store = get_object_store()
    listed_after = timezone.now()
    with open(path, "rb") as model:
        store.put_stream(tenant.bucket, key, model, path.stat().st_size)
    # The index learns about it the way it learns of any object: from storage.
    sync_index(tenant, store.list_objects(tenant.bucket), listed_after)


def _serve(tenant, name, admin, serving="mlserver"):
    """Endpoint `name` serving the latest version of model `name`, if missing. The local runtime
    picks the model server from the model's files (MLServer for iris, llama-cpp-python for
    tiny-chat); only a cluster reads the template."""
    if Endpoint.objects.filter(tenant=tenant, name=name).exists():
        return
    create_endpoint(
        tenant=tenant,
        name=name,
        model_name=name,
        version_policy="{latest {}}",
        serving=ServingTemplate.objects.get(name=serving),
        subject_name="demo.client",
        resources={"requests": {"cpu": "250m", "memory": "512Mi"}},
        replicas=1,
        created_by=admin,
    )
