"""The two kinds of failure a backend reports. Tasks retry the first and record the second."""


class TransientError(Exception):
    """Worth retrying: the server was down, busy or slow (5xx, 429, timeouts, refused)."""


class PermanentError(Exception):
    """Retrying will not help until someone changes something; the message says what."""


class NamespaceTerminating(TransientError):
    """A tenant's namespace is terminating: its tenant is being deleted, or someone deleted the
    namespace behind the platform's back (then retry: it is made again once it is gone)."""
