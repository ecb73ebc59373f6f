"""Turning a request's raw prompt or chat messages into the exact text and token ids the model sees.

Generate and Tokenize share this, so Tokenize answers "exactly as Generate would". A raw prompt is
tokenized as the original backend did (``tokenizer(prompt)``, the tokenizer's own special tokens); chat
messages go through the model's chat template with an assistant turn opened, and the rendered text is
tokenized without adding special tokens again (the template already holds them).
"""

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class ChatTurn:
    """One chat message, free of any wire format."""

    role: str
    content: str


@dataclass(frozen=True)
class EncodedPrompt:
    """The prompt as text (what include_prompt returns) and as the token ids the model reads."""

    text: str
    token_ids: list[int]


class PromptEncoder:
    """Applies the chat template and tokenizes; thread-safe, so the servicer runs it off the event loop."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self._tokenizer = tokenizer

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self._tokenizer, "chat_template", None))

    def encode(self, prompt: str, messages: list[ChatTurn]) -> EncodedPrompt:
        """Exactly one of prompt and messages is set (the request validation guarantees it)."""
        if not messages:
            return EncodedPrompt(prompt, list(self._tokenizer(prompt)["input_ids"]))
        text = self._tokenizer.apply_chat_template(
            [{"role": turn.role, "content": turn.content} for turn in messages],
            tokenize=False,
            add_generation_prompt=True,
        )
        return EncodedPrompt(text, list(self._tokenizer(text, add_special_tokens=False)["input_ids"]))

    def token_strings(self, token_ids: list[int]) -> list[str]:
        """The vocabulary entry of each id, as Tokenize reports them."""
        return list(self._tokenizer.convert_ids_to_tokens(token_ids))
