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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schemas.errors import FieldError

# Nothing of the floors is imported here: a command line imports this module before it has
# parsed its arguments, and an officer's `validate` (or a mistyped option) must not wait for
# Temporal's SDK, the workflows and PostgreSQL's driver to load. Each rule names its error's
# module instead (`RulesOf`), and is read only when that module is loaded.


class ExitCode(IntEnum):
    """The command lines' exit codes (each program's docstring says them in its words)."""

    OK = 0
    REFUSED = 1
    """Input refused (starter.py); a failure found: a history that no longer replays, a
    milestone missing or altered (audit.py)."""
    USAGE = 2
    UNAVAILABLE = 3
    NOT_FOUND = 4


# `starter.py status` shows the latest milestones, so it takes as long on a convention of
# years as on a new one (benchmarks/milestone_count.py); --all, or `audit.py timeline`, shows
# them all.
STATUS_TIMELINE_SHOWN = 100


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

Rules = Mapping[type[BaseException], Rule]


@dataclass(frozen=True)
class RulesOf:
    """The rules of the errors one module defines, read only when that module is loaded: an
    error of a class whose module was never imported cannot have been raised (and a
    subclass's module has imported its base's). `rules` imports the module when called."""

    module: str
    rules: Callable[[], Rules]

    def loaded(self) -> Rules:
        """The rules, or none while the module is not loaded."""
        return self.rules() if self.module in sys.modules else {}


def says(prefix: str, code: ExitCode, *, to_stdout: bool = False) -> Rule:
    """The common rule: `<prefix><the error's message>`."""
    return lambda error: Said(f"{prefix}{error}", code, to_stdout)


def one_line(text: str) -> str:
    """A message folded onto one line (Temporal's and PostgreSQL's span several)."""
    return " ".join(text.split()) or "no message"


def _input_error(error: BaseException) -> Said:
    from rendering.catalogues import language_from_environment
    from schemas.errors import InputError

    assert isinstance(error, InputError)
    language = language_from_environment()
    lines = [f"refused: {error.source}", *(f"  {_problem(p, language)}" for p in error.errors)]
    return Said("\n".join(lines), ExitCode.REFUSED)


def _problem(problem: FieldError, language: str) -> FieldError:
    """A field's problem with its typed reason (a refusal's code, pydantic's error type) said
    in the shell's language; English shells read the reason as it was given. The field's
    path and the `refused:` prefix stay as scripts read them."""
    from rendering.validation import reason_text
    from schemas.errors import Reason

    if language == "en" or not isinstance(problem.reason, Reason) or not problem.reason.code:
        return problem
    return replace(problem, reason=reason_text(problem.reason, language))


def _domain(prefix: str, code: ExitCode) -> Rule:
    """A domain error: its detail, then its fields at fault, and how long to wait if it says."""

    def say(error: BaseException) -> Said:
        from application import errors as domain
        from rendering.catalogues import language_from_environment
        from rendering.details import error_detail
        from schemas.errors import Reason

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
    from temporalio.service import RPCError, RPCStatusCode

    assert isinstance(error, RPCError)
    if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return Said(f"unavailable: Temporal: {one_line(error.message)}", ExitCode.UNAVAILABLE)
    return Said(f"refused: Temporal: {one_line(error.message)}", ExitCode.REFUSED)


def _encrypted_without_key(error: BaseException) -> Said | None:
    # The SDK's plain converter meeting an encrypted payload: no payload key configured.
    from infra.payload_codec import ENCODING

    if ENCODING.decode() not in str(error):
        return None
    return Said(
        "unreadable: this convention's data is encrypted and no payload key is configured "
        "(set PACTE_PAYLOAD_KEYS or [payload_keys] in the secrets file)",
        ExitCode.USAGE,
    )


def _domain_rules() -> Rules:
    from application import errors as domain

    return {
        domain.PacteError: _domain("refused: ", ExitCode.REFUSED),
        domain.BadRequest: _domain("usage: ", ExitCode.USAGE),
        domain.InvalidInput: _domain("refused: ", ExitCode.REFUSED),
        domain.NotFound: _domain("not found: ", ExitCode.NOT_FOUND),
        domain.Unavailable: _domain("unavailable: ", ExitCode.UNAVAILABLE),
        domain.TooManyAttempts: _domain("refused: ", ExitCode.REFUSED),
    }


DOMAIN_RULES = RulesOf("application.errors", _domain_rules)
"""application/errors.py: each class by its nearest ancestor here (Refused, Conflict,
Unauthenticated, Forbidden and LinkUnusable are refusals; ConventionNotAnswering,
CodeUnavailable and HistoryUnavailable are Unavailable)."""


def _temporal_unavailable() -> Rules:
    from infra.temporal_client import TemporalUnavailable

    return {TemporalUnavailable: says("unavailable: ", ExitCode.UNAVAILABLE)}


def _archive_unavailable() -> Rules:
    from records.archive_store import ArchiveUnavailable

    return {ArchiveUnavailable: says("unavailable: ", ExitCode.UNAVAILABLE)}


def _settings_error() -> Rules:
    from infra.settings import SettingsError

    # A PACTE_* variable that is not a number, and the like.
    return {SettingsError: says("configuration: ", ExitCode.USAGE)}


def _secret_error() -> Rules:
    from infra.secrets import SecretError

    # A malformed payload key (named, never shown).
    return {SecretError: says("configuration: ", ExitCode.USAGE)}


def _payload_decryption() -> Rules:
    from infra.payload_codec import PayloadDecryptionError

    # Not the key the data was encrypted with, or no key at all.
    return {PayloadDecryptionError: says("unreadable: ", ExitCode.USAGE)}


COMMON_RULES: Sequence[Rules | RulesOf] = (
    DOMAIN_RULES,
    {DatabaseUnavailable: says("unavailable: ", ExitCode.UNAVAILABLE)},
    RulesOf("infra.temporal_client", _temporal_unavailable),
    RulesOf("records.archive_store", _archive_unavailable),
    RulesOf("infra.settings", _settings_error),
    RulesOf("infra.secrets", _secret_error),
    RulesOf("infra.payload_codec", _payload_decryption),
)
"""Both command lines' rules."""


class CliErrors:
    """One command line's rules, each error said by the rule of its nearest class."""

    def __init__(self, rules: Sequence[Rules | RulesOf]) -> None:
        self.rules = tuple(rules)

    def with_rules(self, *rules: Rules | RulesOf) -> CliErrors:
        """These rules too, in place of the shared ones for the same classes."""
        return CliErrors((*self.rules, *rules))

    def said(self, error: BaseException) -> Said | None:
        """What to say of the error, or None if no rule knows it."""
        known: dict[type[BaseException], Rule] = {}
        for rules in self.rules:
            known.update(rules.loaded() if isinstance(rules, RulesOf) else rules)
        for kind in type(error).__mro__:
            rule = known.get(kind)
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


def _input_rules() -> Rules:
    from schemas.errors import InputError

    return {InputError: _input_error}


def _convention_rules() -> Rules:
    from application.conventions import (
        ConventionAlreadyStarted,
        ConventionNotFound,
        ConventionUnreadable,
        ParentUnknown,
        QueryRefused,
        TerminationUnrecorded,
    )

    return {
        ConventionAlreadyStarted: says("refused: ", ExitCode.REFUSED),
        ParentUnknown: says("refused: ", ExitCode.REFUSED),
        ConventionNotFound: says("not found: ", ExitCode.NOT_FOUND),
        QueryRefused: says("usage: ", ExitCode.USAGE),
        TerminationUnrecorded: says("unavailable: ", ExitCode.UNAVAILABLE),
        ConventionUnreadable: says("stuck: ", ExitCode.UNAVAILABLE),
    }


def _temporal_rules() -> Rules:
    from temporalio.service import RPCError

    return {RPCError: _temporal_call}


def _postgres_rules() -> Rules:
    import asyncpg

    return {asyncpg.PostgresError: _postgres_gone}


STARTER_ERRORS = COMMON.with_rules(
    RulesOf("schemas.errors", _input_rules),
    RulesOf("application.conventions", _convention_rules),
    RulesOf("temporalio.service", _temporal_rules),
    {
        KeyError: _encrypted_without_key,
        # PostgreSQL went away mid-command.
        OSError: _postgres_gone,
    },
    RulesOf("asyncpg", _postgres_rules),
)
"""starter.py's: the shared rules, the officers' refusals, Temporal and PostgreSQL going
away mid-command."""


def _history_rules() -> Rules:
    from auditing.histories import HistoryNotFound, InvalidRequest

    return {
        InvalidRequest: says("usage error: ", ExitCode.USAGE),
        HistoryNotFound: says("not found: ", ExitCode.NOT_FOUND),
    }


def _iati_rules() -> Rules:
    from auditing.iati import ConventionUnreadable as HistoryInputUnreadable
    from auditing.iati import IatiConfigurationMissing

    return {
        # PACTE_IATI_ORG_REF, named.
        IatiConfigurationMissing: says("configuration: ", ExitCode.USAGE),
        # A failure found is said with the results, on stdout: never passed over.
        HistoryInputUnreadable: says("FAIL  ", ExitCode.REFUSED, to_stdout=True),
    }


def _archive_damaged() -> Rules:
    from records.archive_store import ArchiveDamaged

    return {ArchiveDamaged: says("FAIL  ", ExitCode.REFUSED, to_stdout=True)}


def _report_rules() -> Rules:
    from auditing.report import ReportUnavailable

    return {ReportUnavailable: says("unavailable: ", ExitCode.UNAVAILABLE)}


def audit_errors() -> CliErrors:
    """audit.py's: the shared rules and the auditors' own errors (each read when its module
    is loaded, so that starter.py never loads the auditing tools and audit.py only those its
    command uses)."""
    return COMMON.with_rules(
        {
            UsageError: says("usage error: ", ExitCode.USAGE),
            # --out in a directory that cannot be written, and the like.
            OSError: says("error: ", ExitCode.USAGE),
        },
        RulesOf("auditing.histories", _history_rules),
        RulesOf("auditing.iati", _iati_rules),
        RulesOf("records.archive_store", _archive_damaged),
        RulesOf("auditing.report", _report_rules),
    )


def zone_option(typed: str) -> str:
    """A command line's `--zone`: an IANA zone name, or the reason it is none (argparse
    names the option: "argument --zone: …")."""
    from rendering.zones import UnknownZone, valid_zone

    try:
        return valid_zone(typed)
    except UnknownZone as error:
        raise argparse.ArgumentTypeError(
            f"unknown time zone {typed!r}: not a zone of the IANA database "
            "(an Area/City name such as Africa/Casablanca, or UTC)"
        ) from error
