"""What the command lines say when a command cannot be done: one readable line and an exit code.

Both command lines (`starter.py`, the officers'; `audit.py`, the auditors') share the exit
codes and the words: every domain error (application/errors.py) and every error of the
floors below them (settings, secrets, payload keys, Temporal, PostgreSQL, the archive) has
one rule here; a command line adds the rules of its own errors (`CliErrors.with_rules`) and
calls `report` from its `main`. An error no rule knows is a bug, and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import IntEnum

import asyncpg
from temporalio.service import RPCError, RPCStatusCode

from application import errors as domain
from application.conventions import (
    ConventionAlreadyStarted,
    ConventionNotFound,
    ConventionUnreadable,
    ParentUnknown,
    QueryRefused,
    TerminationUnrecorded,
)
from infra.payload_codec import ENCODING, PayloadDecryptionError
from infra.secrets import SecretError
from infra.settings import SettingsError
from infra.temporal_client import TemporalUnavailable
from records.archive_store import ArchiveDamaged, ArchiveUnavailable
from rendering.catalogues import language_from_environment
from rendering.details import error_detail
from rendering.validation import reason_text
from rendering.zones import UnknownZone, valid_zone
from schemas.errors import FieldError, InputError, Reason


class ExitCode(IntEnum):
    """The command lines' exit codes (each program's docstring says them in its words)."""

    OK = 0
    REFUSED = 1
    """Input refused (starter.py); a failure found: a history that no longer replays, a
    milestone missing or altered (audit.py)."""
    USAGE = 2
    UNAVAILABLE = 3
    NOT_FOUND = 4


class UsageError(Exception):
    """A command line that does not say what to do."""


class DatabaseUnavailable(Exception):
    """PostgreSQL does not answer (or the embedded one cannot start), or holds no migrated
    Pacte database."""


@dataclass(frozen=True)
class Said:
    """What a command line says of an error: its text (first line first), where, its code."""

    text: str
    code: ExitCode
    to_stdout: bool = False
    """audit.py reports a failure found (FAIL …) with its results, on stdout."""


Rule = Callable[[BaseException], Said | None]
"""A rule says an error, or returns None: not its kind after all (the error propagates)."""


def says(prefix: str, code: ExitCode, *, to_stdout: bool = False) -> Rule:
    """The common rule: `<prefix><the error's message>`."""
    return lambda error: Said(f"{prefix}{error}", code, to_stdout)


def one_line(text: str) -> str:
    """A message folded onto one line (Temporal's and PostgreSQL's span several)."""
    return " ".join(text.split()) or "no message"


def _input_error(error: BaseException) -> Said:
    assert isinstance(error, InputError)
    language = language_from_environment()
    lines = [f"refused: {error.source}", *(f"  {_problem(p, language)}" for p in error.errors)]
    return Said("\n".join(lines), ExitCode.REFUSED)


def _problem(problem: FieldError, language: str) -> FieldError:
    """A field's problem with its typed reason (a refusal's code, pydantic's error type) said
    in the shell's language; English shells read the reason as it was given. The field's
    path and the `refused:` prefix stay as scripts read them."""
    if language == "en" or not isinstance(problem.reason, Reason) or not problem.reason.code:
        return problem
    return replace(problem, reason=reason_text(problem.reason, language))


def _domain(prefix: str, code: ExitCode) -> Rule:
    """A domain error: its detail, then its fields at fault, and how long to wait if it says."""

    def say(error: BaseException) -> Said:
        assert isinstance(error, domain.PacteError)
        detail = error.detail
        if isinstance(detail, Reason) and detail.code:
            # A typed refusal (the workflow's) or detail (a code and its values): said in the
            # shell's language; the prefix stays as scripts read it.
            said = error_detail(detail, language_from_environment())
            detail = said.text if said is not None else detail
        text = f"{prefix}{detail or type(error).__name__}"
        if error.retry_after is not None:
            text += f" (try again in {error.retry_after} s)"
        return Said("\n".join([text, *(f"  {problem}" for problem in error.errors)]), code)

    return say


def _temporal_call(error: BaseException) -> Said:
    # Temporal went away mid-command, or refused the call.
    assert isinstance(error, RPCError)
    if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return Said(f"unavailable: Temporal: {one_line(error.message)}", ExitCode.UNAVAILABLE)
    return Said(f"refused: Temporal: {one_line(error.message)}", ExitCode.REFUSED)


def _encrypted_without_key(error: BaseException) -> Said | None:
    # The SDK's plain converter meeting an encrypted payload: no payload key configured.
    if ENCODING.decode() not in str(error):
        return None
    return Said(
        "unreadable: this convention's data is encrypted and no payload key is configured "
        "(set PACTE_PAYLOAD_KEYS or [payload_keys] in the secrets file)",
        ExitCode.USAGE,
    )


DOMAIN_RULES: Mapping[type[BaseException], Rule] = {
    domain.PacteError: _domain("refused: ", ExitCode.REFUSED),
    domain.BadRequest: _domain("usage: ", ExitCode.USAGE),
    domain.InvalidInput: _domain("refused: ", ExitCode.REFUSED),
    domain.NotFound: _domain("not found: ", ExitCode.NOT_FOUND),
    domain.Unavailable: _domain("unavailable: ", ExitCode.UNAVAILABLE),
    domain.TooManyAttempts: _domain("refused: ", ExitCode.REFUSED),
}
"""application/errors.py: each class by its nearest ancestor here (Refused, Conflict,
Unauthenticated, Forbidden and LinkUnusable are refusals; ConventionNotAnswering,
CodeUnavailable and HistoryUnavailable are Unavailable)."""

COMMON_RULES: Mapping[type[BaseException], Rule] = {
    **DOMAIN_RULES,
    TemporalUnavailable: says("unavailable: ", ExitCode.UNAVAILABLE),
    DatabaseUnavailable: says("unavailable: ", ExitCode.UNAVAILABLE),
    ArchiveUnavailable: says("unavailable: ", ExitCode.UNAVAILABLE),
    # A PACTE_* variable that is not a number, and the like; a malformed payload key (named,
    # never shown).
    SettingsError: says("configuration: ", ExitCode.USAGE),
    SecretError: says("configuration: ", ExitCode.USAGE),
    # Not the key the data was encrypted with, or no key at all.
    PayloadDecryptionError: says("unreadable: ", ExitCode.USAGE),
}
"""Both command lines' rules."""


class CliErrors:
    """One command line's rules, each error said by the rule of its nearest class."""

    def __init__(self, rules: Mapping[type[BaseException], Rule]) -> None:
        self.rules = dict(rules)

    def with_rules(self, rules: Mapping[type[BaseException], Rule]) -> CliErrors:
        """These rules too, in place of the shared ones for the same classes."""
        return CliErrors({**self.rules, **rules})

    def said(self, error: BaseException) -> Said | None:
        """What to say of the error, or None if no rule knows it."""
        for kind in type(error).__mro__:
            rule = self.rules.get(kind)
            if rule is not None:
                return rule(error)
        return None

    def report(self, error: BaseException) -> int:
        """Say the error and return its exit code; re-raise an error no rule knows."""
        said = self.said(error)
        if said is None:
            raise error
        print(said.text, file=sys.stdout if said.to_stdout else sys.stderr, flush=True)
        return said.code


COMMON = CliErrors(COMMON_RULES)


def _postgres_gone(error: BaseException) -> Said:
    return Said(f"unavailable: PostgreSQL: {one_line(str(error))}", ExitCode.UNAVAILABLE)


STARTER_ERRORS = COMMON.with_rules(
    {
        InputError: _input_error,
        ConventionAlreadyStarted: says("refused: ", ExitCode.REFUSED),
        ParentUnknown: says("refused: ", ExitCode.REFUSED),
        ConventionNotFound: says("not found: ", ExitCode.NOT_FOUND),
        QueryRefused: says("usage: ", ExitCode.USAGE),
        TerminationUnrecorded: says("unavailable: ", ExitCode.UNAVAILABLE),
        ConventionUnreadable: says("stuck: ", ExitCode.UNAVAILABLE),
        RPCError: _temporal_call,
        KeyError: _encrypted_without_key,
        # PostgreSQL went away mid-command.
        OSError: _postgres_gone,
        asyncpg.PostgresError: _postgres_gone,
    }
)
"""starter.py's: the shared rules, the officers' refusals, Temporal and PostgreSQL going
away mid-command."""


def audit_errors() -> CliErrors:
    """audit.py's: the shared rules and the auditors' own errors (imported here, when
    audit.py asks, so that starter.py does not load the auditing tools)."""
    from auditing.histories import HistoryNotFound, InvalidRequest
    from auditing.iati import ConventionUnreadable as HistoryInputUnreadable
    from auditing.iati import IatiConfigurationMissing
    from auditing.report import ReportUnavailable

    return COMMON.with_rules(
        {
            UsageError: says("usage error: ", ExitCode.USAGE),
            InvalidRequest: says("usage error: ", ExitCode.USAGE),
            # PACTE_IATI_ORG_REF, named.
            IatiConfigurationMissing: says("configuration: ", ExitCode.USAGE),
            # A failure found is said with the results, on stdout: never passed over.
            HistoryInputUnreadable: says("FAIL  ", ExitCode.REFUSED, to_stdout=True),
            ArchiveDamaged: says("FAIL  ", ExitCode.REFUSED, to_stdout=True),
            ReportUnavailable: says("unavailable: ", ExitCode.UNAVAILABLE),
            HistoryNotFound: says("not found: ", ExitCode.NOT_FOUND),
            # --out in a directory that cannot be written, and the like.
            OSError: says("error: ", ExitCode.USAGE),
        }
    )


def zone_option(typed: str) -> str:
    """A command line's `--zone`: an IANA zone name, or the reason it is none (argparse
    names the option: "argument --zone: …")."""
    try:
        return valid_zone(typed)
    except UnknownZone as error:
        raise argparse.ArgumentTypeError(
            f"unknown time zone {typed!r}: not a zone of the IANA database "
            "(an Area/City name such as Africa/Casablanca, or UTC)"
        ) from error
