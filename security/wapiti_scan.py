"""Debian's web scanner (wapiti) on both desks, signed in; its report in benchmarks/results/.

    python -m security.wapiti_scan [--office-seconds 300] [--partner-seconds 240]

Starts a private stack as the benchmarks do (devkit/stack.py: an in-memory Temporal dev
server, an embedded PostgreSQL, `worker.py`, the mail catcher, `portal.py` on a free loopback
port, a fresh random link secret), starts two first-hour conventions as `demo.py` does, creates
an officer, an auditor and an admin account and signs each in over HTTP as a person does
(password, then the TOTP enrolment where the role owes a second factor), opens a contact's
personal link, then runs wapiti once per signed-in session with that session's cookie:
the partner desk (the contact) and the office desk (each role). Each scan's JSON report and one
text summary of all of them are written to benchmarks/results/, dated.

Only the loopback portal is ever a target: the script re-executes itself in a network
namespace of its own with nothing but a loopback interface (`unshare --net`, as root) when it
can, and in any case wapiti is given the portal as its URL and scope, the portal as every
"endpoint" it would otherwise call on the Internet, no bug report (`--no-bugreport`), and
none of the modules that need an outside server (ssrf, xxe) or brute-force paths (buster,
nikto). Every scan is bounded (`--max-scan-time`, `--max-attack-time`, and a hard kill
after that). Not a test of the suite: it is run on purpose, its findings read by a person
(docs/security.md explains each).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyotp

from application.conventions import start_convention
from application.office.accounts import create_user, new_password
from application.office.signin import SESSION_COOKIE as OFFICE_COOKIE
from demo import first_hour_convention, one_contact_link
from dev import ensure_scanner
from devkit.mail_catcher import MailCatcher
from devkit.stack import PortalProcess, Servers, WorkerProcess, free_port
from infra.database import create_pool
from infra.settings import PROJECT_ROOT
from web.dependencies import SESSION_COOKIE as PARTNER_COOKIE

RESULTS = PROJECT_ROOT / "benchmarks" / "results"
TASK_QUEUE = "pacte-scan"
ISOLATED = "PACTE_SCAN_ISOLATED"
# wapiti 3.0.4's modules that attack the desks themselves. Left out: ssrf and xxe (they make
# the target call wapiti's server on the Internet and ask that server what it saw), buster and
# nikto (brute-force lists of paths another product would have), wapp (fingerprinting).
MODULES = (
    "backup,blindsql,cookieflags,crlf,csp,csrf,exec,file,htaccess,http_headers,methods,"
    "permanentxss,redirect,shellshock,sql,xss"
)
# wapiti is run through this launcher, which is wapiti's own entry point after three changes:
# - no request leaves the loopback: every request wapiti's HTTP library would send elsewhere
#   is refused before a connection is made (the namespace is the first wall, this the second);
# - the wapp module does not download its database from the web when it is loaded (wapiti
#   loads every module, used or not);
# - Debian's 3.0.4 builds --exclude patterns as `…\\Z(?ms)`, which Python 3.11 refuses ("global
#   flags not at the start"): the flags are put first.
GUARDS = """
import re, sys
from urllib.parse import urlsplit
import requests.adapters
import wapitiCore.attack.mod_wapp as wapp
import wapitiCore.net.crawler as crawler

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
send = requests.adapters.HTTPAdapter.send
def loopback_only(adapter, request, *args, **kwargs):
    if urlsplit(request.url).hostname not in LOOPBACK:
        raise requests.exceptions.ConnectionError("refused: outside the loopback")
    return send(adapter, request, *args, **kwargs)
requests.adapters.HTTPAdapter.send = loopback_only
wapp.mod_wapp.update = lambda self: None

def wildcard_translate(pattern):
    body = "".join(".*" if char == "*" else re.escape(char) for char in pattern)
    return re.compile("(?ms)" + body + r"\\Z")
crawler.wildcard_translate = wildcard_translate
"""
LAUNCHER = (
    GUARDS
    + """
from wapitiCore.main.wapiti import wapiti_main
sys.argv[0] = "wapiti"
sys.exit(wapiti_main())
"""
)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TOTP_SECRET = re.compile(r"secret=([A-Z2-7]{16,})")
KILL_AFTER_SECONDS = 180.0
HOMES = {"officer": "/office", "auditor": "/office", "admin": "/office/access-log"}


@dataclass(frozen=True)
class Session:
    """One signed-in browser: which desk, as whom, its cookie and where the scan starts."""

    name: str
    cookie_name: str
    cookie_value: str
    cookie_path: str
    starts: tuple[str, ...]
    seconds: float


def isolate(argv: Sequence[str]) -> None:
    """Re-execute in a network namespace holding only a loopback interface, when possible."""
    if os.environ.get(ISOLATED) or os.geteuid() != 0 or shutil.which("unshare") is None:
        return
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        return
    os.environ[ISOLATED] = "1"
    command = [sys.executable, "-m", "security.wapiti_scan", *argv]
    os.execvp(
        "unshare",
        ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command],
    )


async def office_session(base_url: str, email: str, password: str, home: str) -> str:
    """Sign in as a person does (password, then the TOTP enrolment if owed); the cookie."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        form = {"email": email, "password": password}
        page = await http.get("/office/signin")
        if token := CSRF.search(page.text):  # a sign-in form that carries a token
            form["csrf"] = token.group(1)
        signed = await http.post("/office/signin", data=form)
        if signed.status_code != 303:
            raise RuntimeError(f"{email}: sign-in answered {signed.status_code}")
        if signed.headers["location"] == "/office/enrol":
            enrol = await http.get("/office/enrol")
            secret, csrf = TOTP_SECRET.search(enrol.text), CSRF.search(enrol.text)
            if secret is None or csrf is None:
                raise RuntimeError(f"{email}: no TOTP secret on the enrolment page")
            code = pyotp.TOTP(secret.group(1)).now()
            done = await http.post("/office/enrol", data={"csrf": csrf.group(1), "code": code})
            if done.status_code != 200:
                raise RuntimeError(f"{email}: enrolment answered {done.status_code}")
        cookie = http.cookies.get(OFFICE_COOKIE)
        if not cookie or (await http.get(home)).status_code != 200:
            raise RuntimeError(f"{email}: not signed in")
        return cookie


async def partner_session(base_url: str, link_path: str) -> str:
    """Open a contact's personal link as their browser does; the session cookie."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        opened = await http.get(link_path)
        cookie = http.cookies.get(PARTNER_COOKIE)
        if opened.status_code != 303 or not cookie:
            raise RuntimeError(f"the contact's link answered {opened.status_code}")
        return cookie


def cookie_file(directory: Path, session: Session) -> Path:
    """The session's cookie in wapiti's JSON cookie format (an IP host is its own key)."""
    path = directory / f"{session.name}.cookies.json"
    path.write_text(
        json.dumps(
            {
                "127.0.0.1": {
                    session.cookie_path: {
                        session.cookie_name: {
                            "version": 0,
                            "value": session.cookie_value,
                            "secure": False,
                            "expires": None,
                            "port": None,
                        }
                    }
                }
            }
        )
    )
    return path


def wapiti_command(
    base_url: str, session: Session, cookies: Path, out: Path, state: Path
) -> list[str]:
    """One bounded scan of the loopback portal with this session's cookie."""
    command = [
        *wapiti_program(),
        "--url",
        f"{base_url}/",
        "--scope",
        "folder",
        "--cookie",
        str(cookies),
        "--module",
        MODULES,
        "--max-scan-time",
        str(session.seconds),
        "--max-attack-time",
        str(max(session.seconds / 6, 20)),
        "--depth",
        "6",
        "--timeout",
        "15",
        "--flush-session",
        "--store-session",
        str(state),
        "--no-bugreport",
        # Every "endpoint" wapiti would otherwise call on the Internet is the portal itself.
        "--endpoint",
        f"{base_url}/",
        "--external-endpoint",
        f"{base_url}/",
        "--internal-endpoint",
        f"{base_url}/",
        "--exclude",
        f"{base_url}/office/signout",
        "--exclude",
        f"{base_url}/desk/signout",
        "--format",
        "json",
        "--output",
        str(out),
        "--verbose",
        "1",
    ]
    for start in session.starts:
        command += ["--start", f"{base_url}{start}"]
    return command


async def run_scan(command: list[str], log: Path, limit: float) -> int:
    """wapiti, killed if it overruns its own bound; its exit status."""
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            return await asyncio.wait_for(process.wait(), limit)
        except TimeoutError:
            process.kill()
            await process.wait()
            return -9


async def still_signed_in(base_url: str, session: Session) -> str:
    """Whether the scan's cookie still opens its desk (a scan that signed itself out would
    have attacked the sign-in page only)."""
    home = session.starts[0]
    cookies = {session.cookie_name: session.cookie_value}
    async with httpx.AsyncClient(base_url=base_url, cookies=cookies, timeout=30) as http:
        answer = await http.get(home)
    return "yes" if answer.status_code == 200 else f"no ({home} answered {answer.status_code})"


def statuses(log: Path) -> Counter[str]:
    """The portal's answers by status class and path, from its request log."""
    seen: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        if line.startswith("{") and '"event": "request"' in line:
            entry = json.loads(line)
            seen[f"{str(entry['status'])[0]}xx"] += 1
            if int(entry["status"]) >= 500:
                seen[f"5xx {entry['method']} {entry['path']}"] += 1
    return seen


def findings(report: dict[str, Any]) -> list[str]:
    """One line per distinct finding of a wapiti JSON report (vulnerabilities, anomalies)."""
    lines: list[str] = []
    seen: set[tuple[str, str, str, str]] = set()
    for kind in ("vulnerabilities", "anomalies"):
        for category, entries in sorted((report.get(kind) or {}).items()):
            for entry in entries:
                key = (category, entry.get("method", ""), entry.get("path", ""), entry["info"])
                if key in seen:
                    continue
                seen.add(key)
                parameter = entry.get("parameter") or "-"
                info = " ".join(str(entry.get("info", "")).split())[:160]
                lines.append(
                    f"  [{kind[:4]}] {category}: {entry.get('method', '')} {entry.get('path', '')}"
                    f" ({parameter}) {info}"
                )
    return lines


def portal_errors(log: Path) -> Counter[str]:
    """The exceptions whose tracebacks the portal logged, by name."""
    names: Counter[str] = Counter()
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    for index, line in enumerate(lines):
        if line.startswith("Traceback"):
            for later in lines[index + 1 :]:
                if later and not later.startswith((" ", "Traceback", "During", "The above")):
                    names[later.split(":")[0]] += 1
                    break
    return names


async def prepare(servers: Servers, base_url: str, link_secret: str) -> tuple[str, dict[str, str]]:
    """Conventions, accounts and signed-in sessions on the running portal: the contact's
    cookie, and each role's."""
    os.environ["PACTE_LINK_SECRET"] = link_secret
    client = await servers.client()
    pool = await create_pool(servers.database_url, max_size=2)
    try:
        first = first_hour_convention(1)
        for convention in (first, first_hour_convention(2)):
            await start_convention(client, convention, TASK_QUEUE, milestones=pool)
        link = await one_contact_link(
            pool, servers.settings(TASK_QUEUE), base_url, first.id, within=90
        )
        if link is None:
            raise RuntimeError("the worker minted no contact link within 90 s")
        accounts: dict[str, str] = {}
        for role in ("officer", "auditor", "admin"):
            email, password = f"scan.{role}@ofppt.example", new_password()
            await create_user(pool, email, f"Scan {role}", role, password)
            accounts[role] = await office_session(base_url, email, password, HOMES[role])
    finally:
        await pool.close()
    link_path = link.split()[0].removeprefix(base_url)
    contact = await partner_session(base_url, link_path)
    return contact, accounts


def sessions_of(
    contact: str, accounts: dict[str, str], office_seconds: float, partner_seconds: float
) -> list[Session]:
    """The scans to run: the partner desk first (an office scan may terminate its task)."""
    scans = [
        Session("partner", PARTNER_COOKIE, contact, "/", ("/desk",), partner_seconds),
    ]
    office_starts = {
        "officer": ("/office", "/office/start", "/office/signin"),
        "auditor": ("/office",),
        "admin": ("/office/access-log",),
    }
    shares = {"officer": 1.0, "auditor": 0.5, "admin": 0.3}
    for role, cookie in accounts.items():
        scans.append(
            Session(
                f"office-{role}",
                OFFICE_COOKIE,
                cookie,
                "/office",
                office_starts[role],
                max(round(office_seconds * shares[role]), 60),
            )
        )
    return scans


async def scan_all(
    servers: Servers, portal: PortalProcess, link_secret: str, args: argparse.Namespace
) -> list[str]:
    """Every scan; the summary's lines."""
    contact, accounts = await prepare(servers, portal.base_url, link_secret)
    sessions = sessions_of(contact, accounts, args.office_seconds, args.partner_seconds)
    stamp = datetime.now(UTC)
    date = stamp.strftime("%Y-%m-%d")
    args.results.mkdir(parents=True, exist_ok=True)
    summary = [
        f"wapiti {wapiti_version()} against the loopback portal, {stamp:%Y-%m-%d %H:%M} UTC",
        f"network namespace of its own: {'yes' if os.environ.get(ISOLATED) else 'no'}",
        f"modules: {MODULES}",
        "",
    ]
    for session in sessions:
        work = Path(tempfile.mkdtemp(prefix=f"pacte-wapiti-{session.name}-"))
        out = args.results / f"{date}-wapiti-{session.name}.json"
        command = wapiti_command(
            portal.base_url, session, cookie_file(work, session), out, work / "state"
        )
        print(f"scanning as {session.name} for at most {session.seconds} s …", flush=True)
        status = await run_scan(command, work / "wapiti.log", session.seconds + KILL_AFTER_SECONDS)
        report = json.loads(out.read_text()) if out.exists() else {}
        log_text = (work / "wapiti.log").read_text(errors="replace")
        found = re.search(r"Wapiti found (\d+) URLs and forms", log_text)
        still = await still_signed_in(portal.base_url, session)
        lines = findings(report)
        summary.append(
            f"== {session.name}: exit {status}, {found.group(1) if found else '?'} URLs and forms"
            f" crawled, {len(lines)} findings ({out.name}); still signed in after: {still}"
        )
        summary += lines or ["  (none)"]
        if status != 0:
            log_end = (work / "wapiti.log").read_text(errors="replace").splitlines()[-5:]
            summary += [f"  wapiti: {line}" for line in log_end]
        shutil.rmtree(work, ignore_errors=True)
    answered = statuses(portal.log_path)
    summary += ["", "portal answers during the scans (its request log):"]
    summary += [f"  {what}: {count}" for what, count in sorted(answered.items())]
    errors = portal_errors(portal.log_path)
    summary += [f"portal tracebacks during the scans: {sum(errors.values())}"]
    summary += [f"  {name}: {count}" for name, count in errors.most_common()]
    text = "\n".join(summary) + "\n"
    (args.results / f"{date}-wapiti.txt").write_text(text)
    return summary


def wapiti_program() -> list[str]:
    """wapiti's own interpreter running the launcher."""
    wapiti = shutil.which("wapiti") or "wapiti"
    first = Path(wapiti).read_text(errors="replace").splitlines()[0]
    interpreter = first[2:].strip() if first.startswith("#!") else "python3"
    return [interpreter, "-c", LAUNCHER]


def wapiti_version() -> str:
    """wapiti's version as it prints it."""
    shown = subprocess.run(["wapiti", "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"Wapiti-([\d.]+)", shown.stdout + shown.stderr)
    return found.group(1) if found else "?"


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--office-seconds", type=float, default=300.0)
    parser.add_argument("--partner-seconds", type=float, default=240.0)
    parser.add_argument("--results", type=Path, default=RESULTS)
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    isolate(raw)
    if not ensure_scanner():
        print("wapiti is not installed (apt-get install wapiti, as root)", file=sys.stderr)
        return 2
    link_secret = base64.b64encode(os.urandom(32)).decode()
    with Servers() as servers:
        mail = MailCatcher(
            servers.directory / "mail", smtp_port=free_port(), web_port=free_port()
        ).start()
        try:
            env = servers.environment(
                TASK_QUEUE,
                PACTE_LINK_SECRET=link_secret,
                PACTE_SMTP_HOST="127.0.0.1",
                PACTE_SMTP_PORT=str(mail.smtp_port),
            )
            with WorkerProcess(env, servers.directory / "worker.log"):
                summary = asyncio.run(_with_portal(servers, env, link_secret, args))
        finally:
            mail.stop()
    print("\n".join(summary))
    return 0


async def _with_portal(
    servers: Servers, env: dict[str, str], link_secret: str, args: argparse.Namespace
) -> list[str]:
    async with PortalProcess(env, servers.directory / "portal.log") as portal:
        return await scan_all(servers, portal, link_secret, args)


if __name__ == "__main__":
    raise SystemExit(main())
