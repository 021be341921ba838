"""What the model store asks the apps above it (which it may not import)."""

from django.dispatch import Signal

# Sent before a model version is marked for deletion, with `tenant`, `name` and `version`. A
# receiver answers with the names of what serves that version (the deletion is then refused).
version_deletion_requested = Signal()
