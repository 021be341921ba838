"""The browser portal: server-rendered pages (Django templates, htmx for the live parts) over the
same access checks, validation and services as the management API."""
