"""The cooperation officers' command line: validate, start, act, status, list, schema.

Exit codes: 0 done; 1 input refused (invalid file or answer, already started);
2 usage error; 3 Temporal or PostgreSQL unreachable; 4 convention not found.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from infra.convention_client import (
    AnswerRefused,
    ConventionAlreadyStarted,
    ConventionNotFound,
    answer_open_task,
    convention_status,
    list_conventions,
    start_convention,
)
from infra.render import render_status
from infra.settings import load_settings
from infra.temporal_client import TemporalUnavailable, connect
from schemas.convention import Convention
from schemas.convention_file import load_convention
from schemas.errors import FieldError, InputError
from schemas.tasks import AnswerTask

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_NOT_FOUND = 0, 1, 2, 3, 4


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="starter.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check a convention file, list every error")
    validate.add_argument("file", type=Path)

    schema = commands.add_parser("schema", help="print the JSON Schema of a convention file")
    schema.add_argument("--answer", action="store_true", help="the schema of an answer instead")

    start = commands.add_parser("start", help="start the workflow of a convention file")
    start.add_argument("file", type=Path)

    status = commands.add_parser("status", help="stage, open tasks and timeline of a convention")
    status.add_argument("convention_id")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    act = commands.add_parser("act", help="answer a task on behalf of a party")
    act.add_argument("convention_id")
    act.add_argument("task_id")
    act.add_argument("--as", dest="party", required=True, help="the acting party's id")
    act.add_argument("--actor", help="the person acting for the party")
    act.add_argument("--answer", help="answer fields as a JSON object")
    act.add_argument("--decision", help="approve, request_changes, sign, refuse, agree…")
    act.add_argument("--comments")
    act.add_argument("--reason")
    act.add_argument("--version", type=int, help="the draft version reviewed")
    act.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any other answer field; VALUE is read as JSON when it parses, else as text",
    )

    listing = commands.add_parser("list", help="conventions known to Temporal")
    listing.add_argument("--query", help="an extra Temporal visibility query")
    return parser


def _answer_fields(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if args.answer:
        try:
            parsed = json.loads(args.answer)
        except json.JSONDecodeError as error:
            raise InputError(
                "--answer", [FieldError("answer", f"not JSON: {error.msg}")]
            ) from error
        if not isinstance(parsed, dict):
            raise InputError("--answer", [FieldError("answer", "must be a JSON object")])
        fields.update(parsed)
    for name in ("decision", "comments", "reason", "version"):
        value = getattr(args, name)
        if value is not None:
            fields[name] = value
    for assignment in args.set:
        name, separator, raw = assignment.partition("=")
        if not separator or not name:
            raise InputError(
                "--set", [FieldError("set", f"expected FIELD=VALUE, got {assignment!r}")]
            )
        try:
            fields[name] = json.loads(raw)
        except json.JSONDecodeError:
            fields[name] = raw
    return fields


async def _run(args: argparse.Namespace) -> int:
    if args.command == "validate":
        convention = load_convention(args.file)
        print(
            f"ok: {convention.id} ({convention.kind.value}), stages: "
            + ", ".join(spec.stage for spec in convention.stages)
        )
        return EXIT_OK
    if args.command == "schema":
        model: Any = AnswerTask if args.answer else Convention
        print(json.dumps(TypeAdapter(model).json_schema(), indent=2, ensure_ascii=False))
        return EXIT_OK

    settings = load_settings()
    if args.command == "start":
        convention = load_convention(args.file)  # refused here: nothing starts
        client = await connect(settings)
        print(await start_convention(client, convention, settings.task_queue))
        return EXIT_OK
    client = await connect(settings)
    if args.command == "status":
        status = await convention_status(client, args.convention_id)
        print(status.model_dump_json(indent=2) if args.json else render_status(status))
    elif args.command == "act":
        receipt = await answer_open_task(
            client,
            args.convention_id,
            args.task_id,
            args.party,
            _answer_fields(args),
            actor=args.actor,
        )
        print(f"accepted: {receipt.task_id} at {receipt.accepted_at:%Y-%m-%d %H:%M:%S %Z}")
    elif args.command == "list":
        for summary in await list_conventions(client, args.query):
            started = f"{summary.started_at:%Y-%m-%d %H:%M}" if summary.started_at else ""
            print(f"{summary.convention_id:<36} {summary.status:<12} {started}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run one command; user mistakes become one line each on stderr and a non-zero code."""
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except InputError as error:
        print(f"refused: {error.source}", file=sys.stderr)
        for problem in error.errors:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_REFUSED
    except (ConventionAlreadyStarted, AnswerRefused) as error:
        print(f"refused: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except ConventionNotFound as error:
        print(f"not found: {error}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except TemporalUnavailable as error:
        print(f"unavailable: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # A short-lived Temporal client can abort at interpreter exit (sdk-python issue 300):
    # leave directly with the code we mean.
    os._exit(code)
