"""Reading convention files and answer scripts: YAML or JSON, validated at the edge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError

from schemas.convention import Convention
from schemas.errors import FieldError, InputError, field_errors
from schemas.values import Frozen, Identifier

M = TypeVar("M", bound=BaseModel)


def read_document(path: Path) -> Any:
    """Parse a YAML or JSON file; a syntax error becomes an InputError with its position."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise _whole_file_error(path, f"cannot read file: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise _whole_file_error(path, "not UTF-8 text") from error
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise _whole_file_error(path, f"invalid JSON at {where}: {error.msg}") from error
    except yaml.YAMLError as error:
        raise _whole_file_error(path, _yaml_problem(error)) from error


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's message on one line: what it was reading, what is wrong, and where (1-based)."""
    parts = []
    for text_name, mark_name in (("context", "context_mark"), ("problem", "problem_mark")):
        text, mark = getattr(error, text_name, None), getattr(error, mark_name, None)
        if text:
            parts.append(
                f"{text} at line {mark.line + 1}, column {mark.column + 1}" if mark else text
            )
    return "invalid YAML: " + ("; ".join(parts) or str(error).splitlines()[0])


def _whole_file_error(path: Path, reason: str) -> InputError:
    return InputError(str(path), [FieldError("", reason)])


def parse_model(model: type[M], data: Any, source: str) -> M:
    """Validate data as model, or raise an InputError listing every field error."""
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "nothing"
        raise InputError(source, [FieldError("", f"expected a mapping of fields, found {kind}")])
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InputError(source, field_errors(error)) from error


def load_convention(path: Path) -> Convention:
    """A validated convention file."""
    return parse_model(Convention, read_document(path), str(path))


class ScriptedAnswer(Frozen):
    """One scripted answer: the task, the acting party, the answer fields."""

    task: str
    acting_party: Identifier = Field(alias="as")
    actor: str | None = None
    answer: dict[str, Any]
    follow_up: int | None = Field(
        default=None,
        ge=0,
        description="Answer in the Nth follow-up convention of the diagnostic, not this one.",
    )


class AnswerScript(Frozen):
    """The partners' answers to one convention, in the order they are given."""

    convention: Identifier
    answers: list[ScriptedAnswer]


def load_answer_script(path: Path) -> AnswerScript:
    """A validated answers file (the demo's scripted partners)."""
    return parse_model(AnswerScript, read_document(path), str(path))
