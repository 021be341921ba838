"""Filters available in every serving template (a builtin library of the rendering engine)."""

import json

from django import template

register = template.Library()


@register.filter
def tojson(value):
    """The value as JSON, which YAML reads as is: safe for objects and for free text."""
    return json.dumps(value, sort_keys=True)
