"""Reading convention files and answer scripts: YAML or JSON, validated at the edge."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml
from pydantic import BaseModel, Field, ValidationError

from schemas.convention import Convention, reference_problems
from schemas.errors import FieldError, InputError, field_errors
from schemas.values import Frozen, Identifier

M = TypeVar("M", bound=BaseModel)


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (the last would win
    silently), and leaving dates as their text for the models to check (PyYAML's timestamp
    constructor raises a bare ValueError on an impossible date, which stopped the reading)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: overriding is its point
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: PyYAML names it below
                break
            if duplicate:
                first = seen[key].start_mark
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first given at line {first.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        # A date stays the text written: the models read it (pydantic parses ISO dates and
        # times), so an impossible one (2023-02-30) is one field error among the file's
        # others, with its line and column, instead of stopping the reading there.
        return self.construct_scalar(node)


_StrictLoader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    _StrictLoader.construct_yaml_timestamp,
)


def parse_document(text: str, source: str, *, as_json: bool) -> Any:
    """Parse YAML or JSON text; every syntax error is one InputError line with its position:
    `source: line L, column C: reason`."""
    try:
        if as_json:
            return _parse_json(text, source)
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as error:
        raise _whole_file_error(source, _yaml_problem(source, error)) from error
    except RecursionError as error:
        raise _whole_file_error(source, f"{source}: nested too deeply to be read") from error
    except ValueError as error:  # a constructor's own check, e.g. an integer of 5,000 digits
        raise _whole_file_error(source, f"{source}: invalid YAML: {error}") from error


def _parse_json(text: str, source: str) -> Any:
    decoder = json.JSONDecoder()
    decoder.parse_object = _object_without_duplicate_keys  # type: ignore[attr-defined]
    # The pure-Python scanner calls parse_object; the C one would bypass it.
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    try:
        return decoder.decode(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise _whole_file_error(source, f"{source}: {where}: invalid JSON: {error.msg}") from error
    except _DuplicateJsonKey as error:
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        raise _whole_file_error(
            source,
            f"{source}: line {line}, column {column}: invalid JSON: duplicate key {error.key!r}",
        ) from error
    except (ValueError, RecursionError) as error:  # an integer too long, nesting too deep
        raise _whole_file_error(source, f"{source}: invalid JSON: {error}") from error


class _DuplicateJsonKey(ValueError):
    def __init__(self, key: str, position: int) -> None:
        super().__init__(key)
        self.key, self.position = key, position


def _object_without_duplicate_keys(
    s_and_end: tuple[str, int], *args: Any
) -> tuple[dict[str, Any], int]:
    """json's object parser, refusing a key given twice (json keeps the last one silently)."""
    text, start = s_and_end
    strict, scan_once, _object_hook, _pairs_hook, memo = args
    pairs, end = json.decoder.JSONObject(  # type: ignore[attr-defined]
        (text, start), strict, scan_once, None, list, memo
    )
    keys = [key for key, _ in pairs]
    if len(set(keys)) < len(keys):
        seen: set[str] = set()
        for key, position in _top_level_keys(text, start, end):
            if key in seen:
                raise _DuplicateJsonKey(key, position)
            seen.add(key)
    return dict(pairs), end


def _top_level_keys(text: str, start: int, end: int) -> list[tuple[str, int]]:
    """The keys of the object text[start:end] (after its '{'), with where each begins."""
    keys: list[tuple[str, int]] = []
    depth, index = 0, start
    while index < end:
        char = text[index]
        if char == '"':
            close = index + 1
            while text[close] != '"':
                close += 2 if text[close] == "\\" else 1
            following = text[close + 1 : end].lstrip()
            if depth == 0 and following.startswith(":"):
                keys.append((json.loads(text[index : close + 1]), index))
            index = close + 1
            continue
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        index += 1
    return keys


def read_document(path: Path) -> Any:
    """Parse a YAML or JSON file; a syntax error becomes an InputError with its position."""
    return parse_document(_read_text(path), str(path), as_json=_is_json(path))


def _is_json(path: Path) -> bool:
    return path.suffix.lower() == ".json"


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise _whole_file_error(str(path), f"cannot read file: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise _whole_file_error(str(path), "not UTF-8 text") from error


def _yaml_problem(source: str, error: yaml.YAMLError) -> str:
    """PyYAML's message on one line: where (1-based), what is wrong, what it was reading."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    reason = f"invalid YAML: {problem}"
    if context:
        reason += f" ({context}" + (
            f" at line {context_mark.line + 1}, column {context_mark.column + 1})"
            if context_mark
            else ")"
        )
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return f"{source}: {where}{reason}"


def _whole_file_error(source: str, reason: str) -> InputError:
    return InputError(source, [FieldError("", reason)])


def parse_model(model: type[M], data: Any, source: str) -> M:
    """Validate data as model, or raise an InputError listing every field error (for a
    convention, the references that do not resolve too: see convention_errors)."""
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "nothing"
        raise InputError(source, [FieldError("", f"expected a mapping of fields, found {kind}")])
    if model is Convention:
        return cast(M, checked_convention(data, source))
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InputError(source, field_errors(error)) from error


def convention_errors(data: dict[str, Any]) -> tuple[Convention | None, list[FieldError]]:
    """The convention, or every error of it in one pass: pydantic's (every field at once) and
    the references that do not resolve, which pydantic checks only once every field is valid
    (an unknown party named by a signatory is said beside a bad date, not after it is fixed).
    """
    try:
        return Convention.model_validate(data), []
    except ValidationError as error:
        found = field_errors(error)
    references = reference_problems(data)
    coded = {(problem.field, problem.reason): problem for problem in references}
    said = {(problem.field, problem.reason) for problem in found}
    # The model's own check said some already (in its words): keep one, with its code.
    merged = [coded.get((problem.field, problem.reason), problem) for problem in found]
    return None, merged + [p for p in references if (p.field, p.reason) not in said]


def checked_convention(
    data: dict[str, Any], source: str, *, text: str | None = None, as_json: bool = False
) -> Convention:
    """The validated convention, or an InputError with every error; given the file's `text`,
    each error says the line and column of its field."""
    convention, errors = convention_errors(data)
    if convention is not None:
        return convention
    raise InputError(source, located(errors, text, as_json=as_json) if text else errors)


def parse_convention(
    text: str, source: str, *, as_json: bool, max_values: int | None = None
) -> Convention:
    """A convention file's text, parsed and validated: every error at once, with where the
    file holds it. `max_values` refuses a document that expands past so many values (a YAML
    bomb) before it is validated."""
    document = parse_document(text, source, as_json=as_json)
    if max_values is not None and count_values(document, max_values) > max_values:
        raise _whole_file_error(source, f"{source}: more than {max_values} values")
    if not isinstance(document, dict):
        return parse_model(Convention, document, source)  # refused: not a mapping
    return checked_convention(document, source, text=text, as_json=as_json)


def count_values(value: Any, limit: int) -> int:
    """How many values a parsed document holds, counting each alias's expansion; stops
    counting past the limit, so a billion laughs costs a bounded walk."""
    count, stack = 0, [value]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def located(errors: list[FieldError], text: str, *, as_json: bool = False) -> list[FieldError]:
    """The errors with the line and column (1-based) of their field in the file's text: the
    field's own value when the file has it, else the nearest mapping or list that holds it
    (a missing field is shown where it belongs). JSON is read as YAML for this (it is one,
    nearly); a text that cannot be composed leaves the errors without positions."""
    del as_json  # one reader for both
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError, ValueError):
        return errors
    if root is None:
        return errors
    placed = []
    for error in errors:
        mark = _mark_of(root, error.field)
        placed.append(replace(error, line=mark.line + 1, column=mark.column + 1))
    return placed


def _mark_of(node: yaml.Node, field_path: str) -> yaml.Mark:
    """Where the file holds a dotted field path: the deepest node of it found."""
    for part in field_path.split(".") if field_path else []:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next(
                (value for key, value in node.value if getattr(key, "value", None) == part), None
            )
        elif isinstance(node, yaml.SequenceNode) and part.isdigit():
            index = int(part)
            child = node.value[index] if index < len(node.value) else None
        if child is None:
            break
        node = child
    return node.start_mark


def load_convention(path: Path) -> Convention:
    """A validated convention file: every error at once, each with its line and column."""
    return parse_convention(_read_text(path), str(path), as_json=_is_json(path))


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
