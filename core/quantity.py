"""Kubernetes resource quantities: the grammar of apimachinery's resource.Quantity."""

import re
from decimal import Decimal

from kubernetes.utils.quantity import parse_quantity

# <signedNumber><suffix>, suffix one of binary SI (Ki..Ei), decimal SI (m, k, M..E) or an
# exponent (e3, E-2). Quotas and resources must not be negative, so no sign is accepted. ASCII
# digits only, and the whole string (fullmatch: Python's $ also matches before a final newline).
QUANTITY_PATTERN = (
    r"^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
)
_QUANTITY = re.compile(QUANTITY_PATTERN)


def is_quantity(value) -> bool:
    return isinstance(value, str) and bool(_QUANTITY.fullmatch(value))


def quantity_value(value: str) -> Decimal:
    """The quantity as a number of base units (cores, bytes, devices)."""
    return parse_quantity(value)
