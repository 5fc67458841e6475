"""The auditors' command line: `python audit.py replay|export|timeline|verify …`.

The commands are in the auditing/ package (auditing/cli.py).
"""

from __future__ import annotations

import os
import sys

from auditing.cli import main

if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # A short-lived Temporal client can abort at interpreter exit (sdk-python issue 300):
    # leave directly with the code we mean.
    os._exit(code)
