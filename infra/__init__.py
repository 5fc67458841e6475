"""Wiring shared by the worker, the CLI and the tests: settings, logs, database, Temporal."""
