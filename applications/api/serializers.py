"""Request bodies and response items of plans, applications and usage."""

import re
from decimal import Decimal

from django.core.validators import RegexValidator
from rest_framework import serializers

from applications.services import DEFAULT_GRACE_SECONDS, MAX_GRACE_SECONDS

APPLICATION_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
APPLICATION_NAME_RULE = (
    "An application name is 1 to 63 lowercase letters, digits and hyphens, starting and ending "
    "with a letter or digit."
)
PLAN_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,48}[a-z0-9])?$")
MAX_KEY_DAYS = 3650


def _limit(help_text):
    return serializers.IntegerField(
        min_value=1, allow_null=True, required=False, default=None, help_text=help_text
    )


def _price(help_text):
    return serializers.DecimalField(
        max_digits=12,
        decimal_places=6,
        min_value=Decimal(0),
        allow_null=True,
        required=False,
        default=None,
        help_text=help_text,
    )


PLAN_NAME_RULE = (
    "A plan name is 1 to 50 lowercase letters, digits and hyphens, starting and ending with a "
    "letter or digit."
)


class PlanSerializer(serializers.Serializer):
    name = serializers.CharField(
        validators=[RegexValidator(PLAN_NAME, PLAN_NAME_RULE)],
        help_text="Lowercase letters, digits and hyphens (a slug).",
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")
    requestsPerMinute = _limit("Calls in any 60 seconds; null: unlimited.")
    requestsPerDay = _limit("Calls per UTC day; null: unlimited.")
    concurrentRequests = _limit("Calls in progress at once; null: unlimited.")
    tokensPerMinute = _limit("Prompt and completion tokens per UTC minute; null: unlimited.")
    tokensPerDay = _limit("Prompt and completion tokens per UTC day; null: unlimited.")
    tokensPerMonth = _limit("Prompt and completion tokens per calendar month; null: unlimited.")
    maxTokensPerCall = _limit(
        "The most completion tokens one language-model call may ask for, and what a call that "
        "names none gets; null: what it asks, 1,024 when it does not say."
    )
    currency = serializers.RegexField(
        r"^[A-Z]{3}$", required=False, default="USD", help_text="ISO 4217 code of the prices."
    )
    promptPricePer1k = _price("Price of 1,000 prompt tokens; null: free.")
    completionPricePer1k = _price("Price of 1,000 completion tokens; null: free.")
    spendPerMonth = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        allow_null=True,
        required=False,
        default=None,
        help_text="Money an application may spend per calendar month (needs a price); null: "
        "unlimited.",
    )


# (API name, Plan field) of every limit and price a plan sets.
PLAN_FIELDS = (
    ("requestsPerMinute", "requests_per_minute"),
    ("requestsPerDay", "requests_per_day"),
    ("concurrentRequests", "concurrent_requests"),
    ("tokensPerMinute", "tokens_per_minute"),
    ("tokensPerDay", "tokens_per_day"),
    ("tokensPerMonth", "tokens_per_month"),
    ("maxTokensPerCall", "max_tokens_per_call"),
    ("currency", "currency"),
    ("promptPricePer1k", "prompt_price_per_1k"),
    ("completionPricePer1k", "completion_price_per_1k"),
    ("spendPerMonth", "spend_per_month"),
)


def plan_limits_from(data):
    """A PlanSerializer's validated data as Plan fields."""
    return {field: data[name] for name, field in PLAN_FIELDS}


def plan_item(plan):
    item = {"name": plan.name, "description": plan.description}
    for name, field in PLAN_FIELDS:
        value = getattr(plan, field)
        item[name] = str(value) if isinstance(value, Decimal) else value
    return item


class ApplicationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(
        validators=[RegexValidator(APPLICATION_NAME, APPLICATION_NAME_RULE)],
        help_text="DNS-1123 label, 1 to 63 characters.",
    )
    plan = serializers.CharField(help_text="A plan name (GET /plans).")
    endpoints = serializers.ListField(
        child=serializers.CharField(), allow_empty=False, help_text="Endpoints it may call."
    )
    expiresInDays = serializers.IntegerField(
        min_value=1,
        max_value=MAX_KEY_DAYS,
        required=False,
        help_text="Key lifetime; default: none.",
    )


class RotateSerializer(serializers.Serializer):
    graceSeconds = serializers.IntegerField(
        min_value=0,
        max_value=MAX_GRACE_SECONDS,
        default=DEFAULT_GRACE_SECONDS,
        help_text="How long the current keys keep working (at most 7 days).",
    )
    expiresInDays = serializers.IntegerField(
        min_value=1, max_value=MAX_KEY_DAYS, required=False, help_text="New key's lifetime."
    )


class ApplicationDeleteSerializer(serializers.Serializer):
    name = serializers.CharField()


# --- what the API answers -------------------------------------------------------------------


class ApplicationCreatedSerializer(serializers.Serializer):
    name = serializers.CharField()
    plan = serializers.CharField()
    endpoints = serializers.ListField(child=serializers.CharField())
    key = serializers.CharField(help_text="The API key (mpk_…), shown this once.")


class ApplicationNameSerializer(serializers.Serializer):
    name = serializers.CharField()


class NewKeySerializer(serializers.Serializer):
    name = serializers.CharField()
    key = serializers.CharField(help_text="The new API key (mpk_…), shown this once.")


class RevokedSerializer(serializers.Serializer):
    name = serializers.CharField()
    revokedKeys = serializers.IntegerField(min_value=0)


class PlanItemSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    requestsPerMinute = serializers.IntegerField(allow_null=True)
    requestsPerDay = serializers.IntegerField(allow_null=True)
    concurrentRequests = serializers.IntegerField(allow_null=True)
    tokensPerMinute = serializers.IntegerField(allow_null=True)
    tokensPerDay = serializers.IntegerField(allow_null=True)
    tokensPerMonth = serializers.IntegerField(allow_null=True)
    maxTokensPerCall = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField()
    promptPricePer1k = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True)
    completionPricePer1k = serializers.DecimalField(
        max_digits=12, decimal_places=6, allow_null=True
    )
    spendPerMonth = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)


class KeyItemSerializer(serializers.Serializer):
    prefix = serializers.CharField()
    createdAt = serializers.DateTimeField()
    expiresAt = serializers.DateTimeField(allow_null=True)


class ApplicationItemSerializer(serializers.Serializer):
    name = serializers.CharField()
    plan = serializers.CharField()
    endpoints = serializers.ListField(child=serializers.CharField())
    keys = KeyItemSerializer(many=True)
    createdAt = serializers.DateTimeField()


def _time(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def application_item(application):
    """An application with the keys in use (prefixes and expiry, never the keys). Expects
    `plan` selected and `endpoints` and `keys` (usable ones) prefetched."""
    return {
        "name": application.name,
        "plan": application.plan.name,
        "endpoints": sorted(endpoint.name for endpoint in application.endpoints.all()),
        "keys": [
            {
                "prefix": key.prefix,
                "createdAt": _time(key.created_at),
                "expiresAt": _time(key.expires_at),
            }
            for key in application.keys.all()
        ],
        "createdAt": _time(application.created_at),
    }
