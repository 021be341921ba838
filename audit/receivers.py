"""The audit app writes the record of every change the apps below it report (core.audit)."""

from django.dispatch import receiver

from audit.services import write_record
from core.audit import changed

receiver(changed, dispatch_uid="audit.write_record")(write_record)
