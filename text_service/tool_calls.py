"""Tool calling: showing tools to the model, forcing a call when the request demands one, and reading calls back.

Tools reach the model through its chat template when the template renders tools itself (it mentions
``tools``); otherwise through ``GENERIC_TOOL_PROMPT``, a system message that lists the tools and asks for
calls written as ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (the Hermes format that
Qwen, SmolLM3 and Hermes templates use, so one parser reads both). Earlier calls and tool results in the
conversation are written the same way for such a model.

``required`` and a named tool are not left to the model: its output is constrained (guided decoding) to
the JSON of one call, ``{"name": ..., "arguments": ...}``, with the arguments held to the tool's schema.
``auto`` leaves the choice to the model and ``ToolCallExtractor`` lifts ``<tool_call>`` blocks out of its
text as it streams, so a call's own text is never sent as text.
"""

import json
import secrets
from dataclasses import dataclass
from typing import Any

from text_service.text_stream import held_back_length

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"
GENERIC_TOOL_PROMPT = (
    "You can call tools. Each tool is listed below as JSON with its name, description and the JSON Schema "
    "of its arguments:\n{tools}\n"
    "To call a tool, answer with only "
    + TOOL_CALL_OPEN
    + '{{"name": "<tool name>", "arguments": {{<arguments>}}}}'
    + TOOL_CALL_CLOSE
    + ", one such block per call. If no tool is needed, answer normally."
)


@dataclass(frozen=True)
class ToolSpec:
    """A tool the request offers: its name, description and arguments schema (a JSON object)."""

    name: str
    description: str
    parameters: dict[str, Any]

    def as_openai(self) -> dict[str, Any]:
        """The shape chat templates expect (``tools=[{"type": "function", "function": ...}]``)."""
        function = {"name": self.name, "description": self.description, "parameters": self.parameters}
        return {"type": "function", "function": function}


@dataclass(frozen=True)
class ToolCall:
    """One call: its id, the tool's name and the arguments as JSON object text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolUse:
    """A request's tools and how they may be used: ``mode`` is auto, none or required; ``forced`` names a tool."""

    tools: tuple[ToolSpec, ...]
    mode: str
    forced: str | None = None

    @property
    def constrained(self) -> bool:
        """The output must be a call: required, or a named tool."""
        return self.forced is not None or self.mode == "required"

    @property
    def parses_calls(self) -> bool:
        return self.mode != "none"

    def call_schema(self) -> str:
        """The JSON Schema of the one call the output is constrained to (required: any tool; named: that one)."""
        allowed = [tool for tool in self.tools if self.forced in (None, tool.name)]
        options = [
            {
                "type": "object",
                "properties": {"name": {"const": tool.name}, "arguments": tool.parameters},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
            for tool in allowed
        ]
        return json.dumps(options[0] if len(options) == 1 else {"anyOf": options})


def new_call_id() -> str:
    return f"call_{secrets.token_hex(12)}"


def generic_tool_prompt(tools: tuple[ToolSpec, ...]) -> str:
    """The system prompt that shows tools to a model whose chat template cannot."""
    listing = "\n".join(json.dumps(tool.as_openai()["function"]) for tool in tools)
    return GENERIC_TOOL_PROMPT.format(tools=listing)


def written_call(name: str, arguments: str) -> str:
    """An earlier call as a model without tool support in its template sees it in the conversation."""
    return f'{TOOL_CALL_OPEN}{{"name": {json.dumps(name)}, "arguments": {arguments}}}{TOOL_CALL_CLOSE}'


def parse_call(text: str) -> ToolCall | None:
    """A call written as ``{"name": ..., "arguments": {...}}``; None when the text is no such call."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    arguments = value.get("arguments", {})
    if not isinstance(arguments, dict):
        return None
    return ToolCall(new_call_id(), value["name"], json.dumps(arguments, ensure_ascii=False))


class ToolCallExtractor:
    """Splits one request's streamed text into plain text and tool calls, never releasing a call's own text.

    Constrained (required or named tool): the whole output is one call, so nothing is released until the
    end. Auto: text streams until ``<tool_call>`` may begin; each block becomes a call once closed (or at
    the end). Text that turns out to be no valid call is released as text, late but not lost.
    """

    def __init__(self, use: ToolUse) -> None:
        self._constrained = use.constrained
        self._pending = ""
        self._in_call = False

    def push(self, text: str) -> tuple[str, list[ToolCall]]:
        """Adds a delta; returns the text that may be sent now and the calls completed by it."""
        self._pending += text
        if self._constrained:
            return "", []
        released, calls = "", []
        while True:
            if self._in_call:
                end = self._pending.find(TOOL_CALL_CLOSE)
                if end < 0:
                    return released, calls
                body, self._pending = self._pending[:end], self._pending[end + len(TOOL_CALL_CLOSE) :]
                self._in_call = False
                call = parse_call(body.strip())
                if call is None:
                    released += TOOL_CALL_OPEN + body + TOOL_CALL_CLOSE
                else:
                    calls.append(call)
                continue
            start = self._pending.find(TOOL_CALL_OPEN)
            if start >= 0:
                released += self._pending[:start]
                self._pending = self._pending[start + len(TOOL_CALL_OPEN) :]
                self._in_call = True
                continue
            split = len(self._pending) - held_back_length(self._pending, (TOOL_CALL_OPEN,))
            released, self._pending = released + self._pending[:split], self._pending[split:]
            return released, calls

    def finish(self) -> tuple[str, list[ToolCall]]:
        """At the end: the held-back text, or the call it completes (an unclosed block counts when it parses)."""
        pending, self._pending = self._pending, ""
        if not (self._in_call or self._constrained):
            return pending, []
        call = parse_call(pending.strip())
        if call is None:
            return (TOOL_CALL_OPEN if self._in_call else "") + pending, []
        return "", [call]
