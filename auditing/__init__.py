"""The auditors' tools: replay, export, timeline and verify a convention's history.

`audit.py` at the project root is the command line; each module here does one job:
histories (where histories come from), decode (reading a history's events), replay,
export, timeline, html_report and verify; archive_store (where closed runs are kept beyond
Temporal's retention), archive_source (reading them, alone or behind Temporal) and
archive_check (their hashes, chain and content).
"""
