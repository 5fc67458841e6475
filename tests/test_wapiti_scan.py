"""The web scanner's script (security/wapiti_scan.py) keeps wapiti on the loopback and reads its
reports; the scan itself is run on purpose, not by the suite (docs/security.md).

The guard test runs only where Debian's wapiti is installed, and only inside a network
namespace of its own (root and `unshare`): were the guard broken, nothing could leave.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from security.wapiti_scan import GUARDS, findings, wapiti_program

PROBE = """
import requests
for url in ("http://scanner-guard.invalid/", "http://10.0.0.1:8080/", "https://[2001:db8::1]/"):
    try:
        requests.get(url, timeout=2)
    except requests.exceptions.ConnectionError as error:
        print("refused" if "outside the loopback" in str(error) else f"other: {error}")
import wapitiCore.net.crawler as crawler
pattern = crawler.wildcard_translate("http://127.0.0.1:1/office/signout*")
print("excluded" if pattern.match("http://127.0.0.1:1/office/signout?x=1") else "kept")
"""


@pytest.mark.skipif(
    shutil.which("wapiti") is None or shutil.which("unshare") is None or os.geteuid() != 0,
    reason="needs Debian's wapiti, unshare and root (python -m security.wapiti_scan installs it)",
)
def test_the_launcher_refuses_every_request_off_the_loopback_and_fixes_exclusions() -> None:
    interpreter = wapiti_program()[0]
    shown = subprocess.run(
        ["unshare", "--net", "--", interpreter, "-c", GUARDS + PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["refused", "refused", "refused", "excluded"], shown.stdout


def test_findings_are_one_line_each_with_duplicates_folded() -> None:
    entry = {
        "method": "POST",
        "path": "/office/signin",
        "info": "Lack of anti CSRF token",
        "parameter": "",
    }
    report = {
        "vulnerabilities": {"Cross Site Request Forgery": [entry, dict(entry)], "XSS": []},
        "anomalies": {"Internal Server Error": [{**entry, "info": "500", "parameter": "email"}]},
    }
    assert findings(report) == [
        "  [vuln] Cross Site Request Forgery: POST /office/signin (-) Lack of anti CSRF token",
        "  [anom] Internal Server Error: POST /office/signin (email) 500",
    ]
    assert findings({}) == []
