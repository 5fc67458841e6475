"""The storage floor: every SQL statement Pacte runs, in small typed modules.

Use cases (`application/`) and activities call these; nothing above this floor writes SQL.
"""
