"""Guided decoding: the language a request's output must belong to, checked once before any token is made.

A request names a JSON Schema, a regex, a list of choices or a GBNF grammar. Each is compiled here with
llguidance (the grammar library of the transformers engine) when the request arrives, so a broken one is
refused as INVALID_ARGUMENT naming the field and llguidance's own reason, before the prompt is even
tokenized. A choice list becomes a regex of the escaped strings, so engines see three kinds only and the
OpenVINO engine, whose StructuredOutputConfig has no choice kind, can take it too.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
from llguidance import LLMatcher, grammar_from

from serving_core.request_errors import InvalidField

MAX_CHOICE_CHARS = 1024
REGEX_SPECIALS = frozenset("\\.^$|?*+()[]{}")
# Keywords whose value is one subschema, a list of subschemas, or a map of names to subschemas.
_ONE_SUBSCHEMA = ("items", "additionalProperties", "not", "contains", "if", "then", "else", "propertyNames")
_LIST_OF_SUBSCHEMAS = ("anyOf", "oneOf", "allOf", "prefixItems")
_MAP_OF_SUBSCHEMAS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


@dataclass(frozen=True)
class GuidedLimits:
    """How big a guide may be: its text, the nesting of a JSON Schema, a choice list."""

    max_chars: int
    max_schema_depth: int
    max_choices: int


@dataclass(frozen=True)
class Guide:
    """A checked constraint: ``kind`` is json_schema, regex or grammar (GBNF); ``field`` is where it came from."""

    kind: str
    text: str
    field: str

    def llguidance_grammar(self) -> str:
        """The constraint as llguidance's grammar definition (the text was checked to compile)."""
        if self.kind == "json_schema":
            return LLMatcher.grammar_from_json_schema(self.text)
        if self.kind == "regex":
            return LLMatcher.grammar_from_regex(self.text)
        return grammar_from("gbnf", self.text)


def choice_regex(choices: list[str]) -> str:
    """A regex matching exactly one of the strings, in the syntax both llguidance and xgrammar read."""
    return "|".join("".join(f"\\{char}" if char in REGEX_SPECIALS else char for char in choice) for choice in choices)


def schema_depth(schema: Any) -> int:
    """How deeply subschemas nest (a flat schema is 1), following every keyword that holds subschemas."""
    if not isinstance(schema, dict):
        return 0
    return 1 + max((schema_depth(child) for child in _subschemas(schema)), default=0)


def schema_keywords(schema: Any) -> set[str]:
    """Every keyword used anywhere in a schema (its own and its subschemas')."""
    if not isinstance(schema, dict):
        return set()
    return set(schema).union(*(schema_keywords(child) for child in _subschemas(schema)))


def _subschemas(schema: dict[str, Any]) -> Iterator[Any]:
    for key in _ONE_SUBSCHEMA:
        if key in schema:
            yield schema[key]
    for key in _LIST_OF_SUBSCHEMAS:
        if isinstance(schema.get(key), list):
            yield from schema[key]
    for key in _MAP_OF_SUBSCHEMAS:
        if isinstance(schema.get(key), dict):
            yield from schema[key].values()


def parse_json_schema(field: str, text: str, limits: GuidedLimits) -> dict[str, Any]:
    """A JSON Schema as an object: valid JSON, a valid schema (draft 2020-12), within the size and depth limits."""
    if len(text) > limits.max_chars:
        raise InvalidField(field, f"{len(text)} characters; at most {limits.max_chars}")
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidField(field, f"not valid JSON: {error}") from None
    if not isinstance(schema, dict):
        raise InvalidField(field, f"a JSON Schema must be a JSON object; got {type(schema).__name__}")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        where = "/".join(str(part) for part in error.path) or "the top level"
        raise InvalidField(field, f"not a valid JSON Schema at {where}: {error.message}") from None
    depth = schema_depth(schema)
    if depth > limits.max_schema_depth:
        raise InvalidField(field, f"subschemas nest {depth} levels deep; at most {limits.max_schema_depth}")
    return schema


def check_guide(kind: str, text: str, field: str, limits: GuidedLimits) -> Guide:
    """Compiles a json_schema, regex or grammar once; refuses it naming ``field`` and what is wrong with it."""
    if not text:
        raise InvalidField(field, "must not be empty")
    if kind == "json_schema":
        parse_json_schema(field, text, limits)
    elif len(text) > limits.max_chars:
        raise InvalidField(field, f"{len(text)} characters; at most {limits.max_chars}")
    guide = Guide(kind, text, field)
    try:
        problem = LLMatcher.validate_grammar(guide.llguidance_grammar())
    except ValueError as error:
        problem = str(error)
    if problem:
        raise InvalidField(field, f"does not compile: {problem.strip()}")
    return guide


def check_choices(choices: list[str], field: str, limits: GuidedLimits) -> Guide:
    """A choice list: 1 to max_choices strings of 1 to MAX_CHOICE_CHARS characters, as a regex guide."""
    if not 1 <= len(choices) <= limits.max_choices:
        raise InvalidField(field, f"{len(choices)} choices; 1 to {limits.max_choices}")
    for index, choice in enumerate(choices):
        if not 1 <= len(choice) <= MAX_CHOICE_CHARS:
            raise InvalidField(f"{field}[{index}]", f"must be 1 to {MAX_CHOICE_CHARS} characters; got {len(choice)}")
    return check_guide("regex", choice_regex(choices), field, limits)
