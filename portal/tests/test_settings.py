"""A wrong setting stops start-up with a sentence that names the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start_with(tmp_path, **env):
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environment.update(MODELPORT_DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MODELPORT_ORCHESTRATOR", "nomad", "must be one of local, kubernetes"),
        ("DEBUG", "maybe", "must be true or false"),
        ("DATABASE_URL", "mysql://x/y", "must be a URL starting with one of"),
        ("REDIS_URL", "localhost:6379", "must be a URL starting with one of"),
        ("S3_ENDPOINT_URL", "minio:9000", "must be a URL starting with one of"),
        ("MODELPORT_DOMAIN", "not a domain", "must be a DNS name"),
        ("KUBECONFIG", "/nonexistent/kubeconfig", "is not a readable file"),
        ("SECRET_KEY", "short", "at least 32 characters"),
        ("MODELPORT_RESYNC_SECONDS", "soon", "must be a whole number"),
        ("MODELPORT_TLS_SECRET", "no-slash", "<namespace>/<secret name>"),
        ("MODELPORT_STATUS_SECONDS", "0", "must be at least 1"),
        ("MODELPORT_KUBERNETES_VERSION", "v1.34", "must look like 1.34.0"),
        ("OIDC_ISSUER", "dex.example.com", "must be a URL starting with one of"),
        ("OIDC_CA_FILE", "/nonexistent/ca.pem", "is not a readable file"),
        ("MODELPORT_SESSION_SECONDS", "a day", "must be a whole number"),
    ],
)
def test_a_wrong_value_fails_at_start_up_naming_the_variable(tmp_path, variable, value, expected):
    result = start_with(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert f"{variable} " in result.stderr
    assert expected in result.stderr


def test_s3_needs_credentials(tmp_path):
    result = start_with(tmp_path, S3_ENDPOINT_URL="http://127.0.0.1:9000")
    assert result.returncode != 0
    assert "S3_ACCESS_KEY_ID must be set when S3_ENDPOINT_URL is set" in result.stderr


def test_secrets_can_come_from_files(tmp_path):
    key_file = tmp_path / "secret"
    key_file.write_text("k" * 40)
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.SECRET_KEY)"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "MODELPORT_DATA_DIR": str(tmp_path),
            "SECRET_KEY_FILE": str(key_file),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "k" * 40, result.stderr


def test_unset_means_the_embedded_default(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings as s; "
            "print(s.DATABASES['default']['ENGINE'], s.MODELPORT_STORAGE['backend'], "
            "s.MODELPORT_ORCHESTRATOR, s.CELERY_BROKER_URL, s.DEBUG)",
        ],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "MODELPORT_DATA_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "filesystem",
        "local",
        "filesystem://localhost/",
        "False",
    ], result.stderr


def test_an_issuer_needs_a_client_id_and_secret(tmp_path):
    result = start_with(tmp_path, OIDC_ISSUER="https://dex.example.com/dex")
    assert result.returncode != 0
    assert "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET must be set when OIDC_ISSUER is set" in (
        result.stderr
    )


def test_the_client_secret_can_come_from_a_file(tmp_path):
    secret = tmp_path / "oidc-secret"
    secret.write_text("from-a-file")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings as s; print(s.OIDC_CLIENT_SECRET)",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "MODELPORT_DATA_DIR": str(tmp_path),
            "OIDC_ISSUER": "https://dex.example.com/dex",
            "OIDC_CLIENT_ID": "modelport",
            "OIDC_CLIENT_SECRET_FILE": str(secret),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "from-a-file", result.stderr


SECURITY = [
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SECURE_HSTS_SECONDS",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_AGE",
]


def security_settings(tmp_path, **env):
    code = "from django.conf import settings as s; " + "; ".join(
        f"print(repr(s.{name}))" for name in SECURITY
    )
    environment = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "MODELPORT_TLS")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **environment,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "MODELPORT_DATA_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    return dict(zip(SECURITY, result.stdout.split("\n"), strict=False)), result.stderr


def test_production_cookies_are_secure_and_http_only_with_hsts(tmp_path):
    values, stderr = security_settings(tmp_path, SECRET_KEY="p" * 20 + "q" * 20)
    assert values == {
        "SESSION_COOKIE_SECURE": "True",
        "CSRF_COOKIE_SECURE": "True",
        "SESSION_COOKIE_HTTPONLY": "True",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_PROXY_SSL_HEADER": "('HTTP_X_FORWARDED_PROTO', 'https')",
        "SESSION_COOKIE_AGE": "28800",
    }, stderr


def test_without_tls_there_is_no_hsts_and_cookies_may_travel_over_http(tmp_path):
    values, stderr = security_settings(
        tmp_path, SECRET_KEY="p" * 20 + "q" * 20, MODELPORT_TLS="false"
    )
    assert values["SESSION_COOKIE_SECURE"] == "False", stderr
    assert values["SECURE_HSTS_SECONDS"] == "0"
    assert values["SESSION_COOKIE_HTTPONLY"] == "True"


def test_a_fresh_data_folder_is_made_whatever_else_is_set(tmp_path):
    """With SECRET_KEY and REDIS_URL set nothing else wrote to the data folder, and SQLite
    could not open a database in a folder that did not exist."""
    data_dir = tmp_path / "fresh" / "data"
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment.update(
        MODELPORT_DATA_DIR=str(data_dir),
        SECRET_KEY="s" * 40,
        REDIS_URL="redis://127.0.0.1:1/0",  # never connected to by migrate
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (data_dir / "db.sqlite3").is_file()
