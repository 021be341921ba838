from django.db import models


class UsageMinute(models.Model):
    """Gateway calls of one application (blank: tenant members' own calls) to one endpoint in
    one minute, flushed from the gateway's counters. Names, not foreign keys, so the history
    outlives a deleted application or endpoint."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    application = models.CharField(max_length=63, blank=True)
    endpoint = models.CharField(max_length=63)
    minute = models.DateTimeField()
    requests = models.PositiveIntegerField(default=0)
    errors_4xx = models.PositiveIntegerField(default=0)
    errors_5xx = models.PositiveIntegerField(default=0)
    latency_ms_sum = models.BigIntegerField(default=0)
    # Request counts per latency bucket: gateway.usage.BUCKETS_MS, then one for slower calls.
    latency_buckets = models.JSONField(default=list)
    tokens = models.BigIntegerField(default=0)
    # Their parts, as the answers' usage reports them (the gateway counts a stream that does not).
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)

    class Meta:
        # Made by the portal app before the models moved here (migration 0001 adopts it).
        db_table = "portal_usageminute"
        ordering = ["minute"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "application", "endpoint", "minute"], name="one_usage_row"
            )
        ]
        indexes = [models.Index(fields=["tenant", "minute"])]

    def __str__(self):
        return f"{self.tenant_id} {self.application or '-'} {self.endpoint} {self.minute}"
