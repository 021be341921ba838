"""`modelport`, the command-line client of the management API (`python -m cli --help`)."""
