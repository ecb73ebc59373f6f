"""Turning a request's raw prompt or chat messages into the exact text and token ids the model sees.

Generate and Tokenize share this, so Tokenize answers "exactly as Generate would". A raw prompt is
tokenized as the original backend did (``tokenizer(prompt)``, the tokenizer's own special tokens); chat
messages go through the model's chat template with an assistant turn opened, and the rendered text is
tokenized without adding special tokens again (the template already holds them). Tools, and the calls and
results of earlier turns, go through the template when it renders tools, and otherwise through
tool_calls' generic system prompt and written-out calls.
"""

import json
from dataclasses import dataclass
from typing import Any

from transformers import PreTrainedTokenizerBase
from transformers.convert_slow_tokenizer import bytes_to_unicode

from text_service.tool_calls import ToolCall, ToolSpec, generic_tool_prompt, written_call

BYTE_OF_CHAR = {char: byte for byte, char in bytes_to_unicode().items()}


@dataclass(frozen=True)
class ChatTurn:
    """One chat message, free of any wire format; an assistant turn may carry calls, a tool turn answers one."""

    role: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""

    def as_template_message(self) -> dict[str, Any]:
        """The message as a chat template that knows tools expects it (arguments as an object)."""
        message: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": call.id, "type": "function", "function": _function(call)} for call in self.tool_calls
            ]
        if self.tool_call_id:
            message["tool_call_id"] = self.tool_call_id
        return message

    def as_plain_message(self) -> dict[str, str]:
        """The message for a template that knows no tools: calls written out, a tool result as a user turn."""
        if self.role == "tool":
            return {"role": "user", "content": f"<tool_response>\n{self.content}\n</tool_response>"}
        calls = "".join(written_call(call.name, call.arguments) for call in self.tool_calls)
        return {"role": self.role, "content": self.content + calls}


def _function(call: ToolCall) -> dict[str, Any]:
    return {"name": call.name, "arguments": json.loads(call.arguments)}


def _with_tool_prompt(conversation: list[dict[str, Any]], tools: tuple[ToolSpec, ...]) -> list[dict[str, Any]]:
    """The generic tool prompt as the system message (after the request's own system text, if any)."""
    prompt = generic_tool_prompt(tools)
    if conversation and conversation[0]["role"] == "system":
        first = conversation[0]
        return [{**first, "content": f"{first['content']}\n\n{prompt}"}, *conversation[1:]]
    return [{"role": "system", "content": prompt}, *conversation]


@dataclass(frozen=True)
class EncodedPrompt:
    """The prompt as text (what include_prompt returns) and as the token ids the model reads."""

    text: str
    token_ids: list[int]


class PromptEncoder:
    """Applies the chat template and tokenizes; thread-safe, so the servicer runs it off the event loop."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self._tokenizer = tokenizer
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._byte_level = type(getattr(backend, "decoder", None)).__name__ == "ByteLevel"
        self._pieces: dict[int, tuple[str, bytes]] = {}

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self._tokenizer, "chat_template", None))

    @property
    def template_renders_tools(self) -> bool:
        """Whether the chat template itself shows tools to the model (it reads a ``tools`` variable)."""
        template = getattr(self._tokenizer, "chat_template", None)
        return isinstance(template, str) and "tools" in template

    def encode(self, prompt: str, messages: list[ChatTurn], tools: tuple[ToolSpec, ...] = ()) -> EncodedPrompt:
        """Exactly one of prompt and messages is set (the request validation guarantees it); tools need messages."""
        if not messages:
            return EncodedPrompt(prompt, list(self._tokenizer(prompt)["input_ids"]))
        if self.template_renders_tools:
            conversation = [turn.as_template_message() for turn in messages]
            text = self._tokenizer.apply_chat_template(
                conversation,
                tools=[tool.as_openai() for tool in tools] or None,
                tokenize=False,
                add_generation_prompt=True,
            )
        else:
            plain: list[dict[str, Any]] = [turn.as_plain_message() for turn in messages]
            conversation = _with_tool_prompt(plain, tools) if tools else plain
            text = self._tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        return EncodedPrompt(text, list(self._tokenizer(text, add_special_tokens=False)["input_ids"]))

    def token_piece(self, token_id: int) -> tuple[str, bytes]:
        """A token's text (U+FFFD for a piece of a character) and its exact bytes, as logprobs report them.

        A byte-level BPE vocabulary (GPT-2's, SmolLM's) spells each byte as one printable character, so the
        entry maps back to the bytes exactly; for any other tokenizer the bytes are those of its text.
        """
        piece = self._pieces.get(token_id)
        if piece is None:
            text = self._tokenizer.decode([token_id])
            entry = self._tokenizer.convert_ids_to_tokens(token_id)
            exact = self._byte_level and all(char in BYTE_OF_CHAR for char in entry)
            piece = (text, bytes(BYTE_OF_CHAR[char] for char in entry) if exact else text.encode())
            self._pieces[token_id] = piece
        return piece

    def token_strings(self, token_ids: list[int]) -> list[str]:
        """The vocabulary entry of each id, as Tokenize reports them."""
        return list(self._tokenizer.convert_ids_to_tokens(token_ids))
