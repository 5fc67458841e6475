"""The auditors' tools: replay, export, timeline and verify a convention's history.

`audit.py` at the project root is the command line; each module here does one job:
histories (where histories come from), decode (reading a history's events), replay,
export, timeline, html_report and verify.
"""
