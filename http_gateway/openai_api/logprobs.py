"""The contract's per-token logprobs in OpenAI's two shapes: chat's ``logprobs.content`` and legacy lists.

JSON has no -Infinity, yet a token that guided decoding forbids has probability 0; such logprobs (and any
NaN) are reported as OpenAI's own stand-in for "very unlikely", -9999.
"""

import math
from collections.abc import Sequence

from hearth.text.v1 import text_service_pb2 as text_pb2
from http_gateway.openai_api.protocol import (
    UNLIKELY_LOGPROB,
    ChoiceLogprobs,
    CompletionLogprobs,
    TokenLogprob,
    TopLogprob,
)


def _logprob(value: float) -> float:
    return value if math.isfinite(value) and value > UNLIKELY_LOGPROB else UNLIKELY_LOGPROB


def _top(entry: text_pb2.TopLogprob) -> TopLogprob:
    return TopLogprob(token=entry.token, logprob=_logprob(entry.logprob), bytes=list(entry.token_bytes))


def chat_logprobs(entries: Sequence[text_pb2.TokenLogprob]) -> ChoiceLogprobs:
    """``choices[].logprobs`` of a chat completion or chunk: token, logprob, bytes and top alternatives."""
    return ChoiceLogprobs(
        content=[
            TokenLogprob(
                token=entry.token,
                logprob=_logprob(entry.logprob),
                bytes=list(entry.token_bytes),
                top_logprobs=[_top(top) for top in entry.top_logprobs],
            )
            for entry in entries
        ]
    )


def completion_logprobs(entries: Sequence[text_pb2.TokenLogprob], offset: int) -> tuple[CompletionLogprobs, int]:
    """Legacy logprobs of tokens whose text starts at ``offset`` in the choice, and the offset after them.

    Offsets count characters of each token's text, so a stream's chunks continue where the last one ended.
    """
    offsets = []
    for entry in entries:
        offsets.append(offset)
        offset += len(entry.token)
    logprobs = CompletionLogprobs(
        tokens=[entry.token for entry in entries],
        token_logprobs=[_logprob(entry.logprob) for entry in entries],
        top_logprobs=[{top.token: _logprob(top.logprob) for top in entry.top_logprobs} for entry in entries],
        text_offset=offsets,
    )
    return logprobs, offset
