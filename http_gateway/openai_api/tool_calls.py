"""OpenAI's tools, tool_choice and tool-call messages, to and from the contract's ToolDefinition/ToolCall.

OpenAI nests a tool's fields under ``function``; the contract does not, so the field paths the text
service names in its errors get that level back (``FIELD_NAMES``). A streamed call is sent OpenAI's way:
the first piece of each call carries its index, id, type and name (with the arguments so far), later
pieces only the index and more arguments, because the SDK joins every string it sees for an index.
"""

from collections.abc import Sequence

from hearth.text.v1 import text_service_pb2 as text_pb2
from http_gateway.guided_decoding import schema_text
from http_gateway.openai_api.protocol import (
    ChatTool,
    FunctionCall,
    FunctionCallDelta,
    NamedToolChoice,
    ToolCall,
    ToolCallDelta,
)

FIELD_NAMES = {
    "tools[].name": "tools[].function.name",
    "tools[].description": "tools[].function.description",
    "tools[].parameters": "tools[].function.parameters",
    "tool_choice.name": "tool_choice.function.name",
    "messages[].tool_calls[].name": "messages[].tool_calls[].function.name",
    "messages[].tool_calls[].arguments": "messages[].tool_calls[].function.arguments",
}
_MODES = {
    "auto": text_pb2.TOOL_CHOICE_MODE_AUTO,
    "none": text_pb2.TOOL_CHOICE_MODE_NONE,
    "required": text_pb2.TOOL_CHOICE_MODE_REQUIRED,
}


def contract_tools(tools: Sequence[ChatTool]) -> list[text_pb2.ToolDefinition]:
    """Each tool's name, description and parameters schema (as JSON text; empty: any object)."""
    return [
        text_pb2.ToolDefinition(
            name=tool.function.name,
            description=tool.function.description or "",
            parameters=(
                schema_text(tool.function.parameters, f"tools[{index}].function.parameters")
                if tool.function.parameters is not None
                else ""
            ),
        )
        for index, tool in enumerate(tools)
    ]


def contract_tool_choice(choice: str | NamedToolChoice) -> text_pb2.ToolChoice:
    """``auto``, ``none``, ``required`` or one named function."""
    if isinstance(choice, NamedToolChoice):
        return text_pb2.ToolChoice(name=choice.function.name)
    return text_pb2.ToolChoice(mode=_MODES[choice])


def contract_tool_calls(calls: Sequence[ToolCall]) -> list[text_pb2.ToolCall]:
    """The calls an earlier assistant message made, as the request repeats them."""
    return [text_pb2.ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments) for call in calls]


def openai_tool_calls(calls: Sequence[text_pb2.ToolCall]) -> list[ToolCall] | None:
    """A response's calls in OpenAI's shape; None when there are none (OpenAI leaves the key out)."""
    return [
        ToolCall(id=call.id, function=FunctionCall(name=call.name, arguments=call.arguments)) for call in calls
    ] or None


def openai_tool_call_deltas(pieces: Sequence[text_pb2.ToolCallDelta]) -> list[ToolCallDelta]:
    """Stream pieces as OpenAI's deltas: id, type and name only on a call's first piece (the one with an id)."""
    return [
        ToolCallDelta(
            index=piece.index,
            id=piece.id or None,
            type="function" if piece.id else None,
            function=FunctionCallDelta(name=piece.name or None, arguments=piece.arguments),
        )
        for piece in pieces
    ]
