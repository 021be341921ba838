"""Presigned URLs for the filesystem backend, so browsers and the CLI use the same flow on both
backends: a URL served by Modelport itself that carries an HMAC-signed, expiring token (Django's
signing with SECRET_KEY) naming one bucket and key, and for uploads one part of one upload."""

from django.conf import settings
from django.core import signing
from django.urls import reverse

_PART_SALT = "modelport.models_store.part"
_DOWNLOAD_SALT = "modelport.models_store.download"


class InvalidToken(Exception):
    """The token was not signed by us, was changed, or has expired."""


class ExpiredToken(InvalidToken):
    """The token was ours and intact, but is older than the URLs' lifetime."""


def sign_part(bucket, key, upload_id, part_number):
    return signing.dumps(
        {"b": bucket, "k": key, "u": upload_id, "p": part_number}, salt=_PART_SALT, compress=True
    )


def sign_download(bucket, key):
    return signing.dumps({"b": bucket, "k": key}, salt=_DOWNLOAD_SALT, compress=True)


def _load(token, salt):
    try:
        return signing.loads(token, salt=salt, max_age=settings.MODELPORT_PRESIGNED_URL_SECONDS)
    except signing.SignatureExpired:
        raise ExpiredToken("This link has expired; ask the API for a new one.") from None
    except signing.BadSignature:
        raise InvalidToken("This link is not valid.") from None


def load_part(token):
    """(bucket, key, upload id, part number) from a part token, or InvalidToken."""
    data = _load(token, _PART_SALT)
    return data["b"], data["k"], data["u"], data["p"]


def load_download(token):
    data = _load(token, _DOWNLOAD_SALT)
    return data["b"], data["k"]


def part_path(token):
    return reverse("storage-part", kwargs={"token": token})


def download_path(token):
    return reverse("storage-download", kwargs={"token": token})
