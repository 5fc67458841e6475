"""The command lines load what their command needs: a `validate`, a `--help` or a mistyped
option does not wait for Temporal's SDK, the workflows, PostgreSQL's driver or the PDF reader
(each `starter.py` process spent about 1.3 s importing them; the broken-command walk runs 89).

The errors are still said by their rules: a rule names its error's module (`RulesOf`) and is
read when that module is loaded, which the error's own class guarantees (checked here).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from application.cli_support import STARTER_ERRORS, RulesOf, audit_errors
from devkit.programs import PROJECT_ROOT, PYTHON

HEAVY = ("temporalio", "asyncpg", "workflows", "pypdf", "application.conventions", "structlog")


def _loaded_after(*args: str) -> tuple[int, list[str]]:
    """Run `starter.py ARGS…` in a fresh interpreter; its exit code and the heavy modules it
    loaded."""
    program = (
        "import json, sys\n"
        f"sys.argv = ['starter.py', *{list(args)!r}]\n"
        "import starter\n"
        "try:\n"
        "    code = starter.main(sys.argv[1:])\n"
        "except SystemExit as done:\n"
        "    code = done.code\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(json.dumps([code, heavy]), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [PYTHON, "-c", program], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    code, heavy = json.loads(done.stderr.strip().splitlines()[-1])
    return code, heavy


def test_a_rule_is_read_whenever_its_error_can_have_been_raised() -> None:
    # A class is defined in its module (or a submodule of it): loaded whenever one of its
    # errors exists, so its rule is never skipped.
    for errors in (STARTER_ERRORS, audit_errors()):
        for rules in errors.rules:
            if not isinstance(rules, RulesOf):
                continue
            classes = rules.rules()
            assert classes, rules.module
            for kind in classes:
                assert kind.__module__ == rules.module or kind.__module__.startswith(
                    rules.module + "."
                ), (kind, rules.module)


@pytest.mark.parametrize(
    "args",
    [("--help",), ("validate", "examples/cycle-maalam.yaml")],
)
def test_commands_without_a_server_load_no_server_client(args: tuple[str, ...]) -> None:
    code, heavy = _loaded_after(*args)
    assert code == 0
    assert heavy == [], (args, heavy)


def test_an_input_refused_is_said_by_its_rule_without_the_floors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ntitle: [unclosed\n", encoding="utf-8")
    code, heavy = _loaded_after("validate", str(bad))
    assert code == 1 and heavy == []
