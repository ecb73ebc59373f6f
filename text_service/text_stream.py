"""Token ids to streamed text: whole characters only, and never a piece of a stop string.

tokenizers' DecodeStream turns ids into text incrementally and answers nothing while a multi-byte
character is still incomplete, so no delta ever holds half a character. On top of it this module holds
back the longest tail of the text that could still grow into a stop string; that text is released once
it can no longer be one, or cut off when the stop string completes. A stop string is therefore caught
even when it spans token boundaries, and no streamed text ever turns out to have been part of it.
A request's unary text is the join of its deltas, so both RPCs return the same text by construction.
"""

from dataclasses import dataclass

from tokenizers import Tokenizer
from tokenizers.decoders import DecodeStream


@dataclass(frozen=True)
class Released:
    """Text that may be sent now, and whether a stop string ended the output."""

    text: str
    stopped: bool = False


def held_back_length(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest suffix of text that is a proper prefix of some stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


class StopAwareDetokenizer:
    """Decodes one request's tokens as they come; text is released only when it is final."""

    def __init__(self, tokenizer: Tokenizer, stops: tuple[str, ...]) -> None:
        self._tokenizer = tokenizer
        self._decoder = DecodeStream(skip_special_tokens=True)
        self._stops = stops
        self._pending = ""

    def push(self, token_ids: list[int]) -> Released:
        """Adds tokens; returns the text that is now safe to send (possibly empty)."""
        for token_id in token_ids:
            piece = self._decoder.step(self._tokenizer, token_id)
            if piece:
                self._pending += piece
        if not self._stops:
            released, self._pending = self._pending, ""
            return Released(released)
        cut = min((index for stop in self._stops if (index := self._pending.find(stop)) >= 0), default=-1)
        if cut >= 0:
            released, self._pending = self._pending[:cut], ""
            return Released(released, stopped=True)
        keep = held_back_length(self._pending, self._stops)
        split = len(self._pending) - keep
        released, self._pending = self._pending[:split], self._pending[split:]
        return Released(released)

    def flush(self) -> str:
        """At the end of generation the held-back tail can no longer become a stop string: release it."""
        released, self._pending = self._pending, ""
        return released
