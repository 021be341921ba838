"""What a person sees when django-axes has locked out their account or address after too many
failed sign-ins: the sign-in pages' own look, a 429, and when to try again."""

from django.conf import settings
from django.shortcuts import render

from core.errors import CoreErrorCode, ModelportError


class LockedOut(ModelportError):
    status = 429


def locked_out(request, response=None, credentials=None):
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    error = LockedOut(
        CoreErrorCode.RATE_LIMITED,
        f"Too many failed sign-ins for this account or from this address: signing in is "
        f"blocked for {minutes} minutes, even with the right password. Ask a platform admin if "
        "it was not you.",
    )
    return render(request, "ui/error.html", {"error": error}, status=error.status)
