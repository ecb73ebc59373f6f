"""One request's engine events as the pieces of its response: text, tokens, logprobs and tool calls.

Generate and GenerateStream both read a request's deltas through a ``ResponsePieces``, so the streamed
pieces join to exactly the unary response: the same text (with any tool call's own text lifted out by
``ToolCallExtractor``), the same tokens and logprobs, the same calls with the same ids.
"""

from dataclasses import dataclass, field

from hearth.text.v1 import text_service_pb2 as pb
from text_service.engine import Completion, FinishReason, TextDelta, TokenLogprob
from text_service.prompts import PromptEncoder
from text_service.tool_calls import ToolCall, ToolCallExtractor, ToolUse

FINISH_REASONS = {
    FinishReason.LENGTH: pb.FINISH_REASON_LENGTH,
    FinishReason.STOP_SEQUENCE: pb.FINISH_REASON_STOP_SEQUENCE,
    FinishReason.END_OF_SEQUENCE: pb.FINISH_REASON_END_OF_SEQUENCE,
    FinishReason.CANCELLED: pb.FINISH_REASON_CANCELLED,
}


@dataclass
class Piece:
    """What one delta (or the end) adds to the response; ``first_call`` numbers its calls in the response."""

    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[pb.TokenLogprob] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    first_call: int = 0

    def __bool__(self) -> bool:
        return bool(self.text or self.token_ids or self.calls)

    def call_deltas(self) -> list[pb.ToolCallDelta]:
        """The calls as OpenAI-style stream pieces: each call whole, in one piece."""
        return [
            pb.ToolCallDelta(index=self.first_call + offset, id=call.id, name=call.name, arguments=call.arguments)
            for offset, call in enumerate(self.calls)
        ]


def tool_call_message(call: ToolCall) -> pb.ToolCall:
    return pb.ToolCall(id=call.id, name=call.name, arguments=call.arguments)


class ResponsePieces:
    """Turns one request's deltas into pieces; ``calls`` holds every tool call made so far."""

    def __init__(self, encoder: PromptEncoder, tool_use: ToolUse | None) -> None:
        self._encoder = encoder
        parses_calls = tool_use is not None and tool_use.parses_calls
        self._extractor = ToolCallExtractor(tool_use) if tool_use is not None and parses_calls else None
        self.calls: list[ToolCall] = []

    def piece(self, delta: TextDelta) -> Piece:
        text, calls = self._extractor.push(delta.text) if self._extractor is not None else (delta.text, [])
        logprobs = [
            self._logprob(token_id, entry) for token_id, entry in zip(delta.token_ids, delta.logprobs, strict=False)
        ]
        return self._numbered(Piece(text, delta.token_ids, logprobs, calls))

    def last_piece(self) -> Piece:
        """What was held back until the end: text that was no call after all, or the call it completes."""
        if self._extractor is None:
            return Piece()
        text, calls = self._extractor.finish()
        return self._numbered(Piece(text, calls=calls))

    def finish_reason(self, completion: Completion) -> pb.FinishReason:
        if self.calls and completion.finish_reason != FinishReason.CANCELLED:
            return pb.FINISH_REASON_TOOL_CALLS
        return FINISH_REASONS[completion.finish_reason]

    def _numbered(self, piece: Piece) -> Piece:
        piece.first_call = len(self.calls)
        self.calls.extend(piece.calls)
        return piece

    def _logprob(self, token_id: int, entry: TokenLogprob) -> pb.TokenLogprob:
        text, raw = self._encoder.token_piece(token_id)
        top = []
        for candidate, logprob in entry.top:
            candidate_text, candidate_raw = self._encoder.token_piece(candidate)
            top.append(
                pb.TopLogprob(token_id=candidate, token=candidate_text, token_bytes=candidate_raw, logprob=logprob)
            )
        return pb.TokenLogprob(token_id=token_id, token=text, token_bytes=raw, logprob=entry.logprob, top_logprobs=top)
