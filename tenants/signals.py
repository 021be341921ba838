"""What tenants tell the apps above them (which tenants may not import): each signal's receivers
live in the app that cares, connected in its AppConfig.ready."""

from django.dispatch import Signal

# Sent before a tenant's CA certificate is removed, with `tenant`. A receiver answers with the
# names of what still checks client certificates against that CA (the removal is then refused).
ca_removal_requested = Signal()

# Sent by the worker once a tenant's namespace and bucket are in place, with `tenant`: what was
# waiting for them (endpoints that lag) can go ahead now rather than at the next resync.
tenant_reconciled = Signal()
