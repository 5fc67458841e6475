"""The application layer: the one client of the convention workflows.

The CLI (`starter.py`), the demo and the web desks all call these functions; `infra/` below
them is plumbing only (settings, database pool, Temporal client, codec, logging, the
embedded stack).
"""
