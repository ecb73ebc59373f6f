"""Translating between the HTTP routes' text fields and the text contract (``hearth.text.v1``)."""

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from hearth.text.v1 import text_service_pb2 as text_pb2

FINISH_REASON_NAMES = {
    text_pb2.FINISH_REASON_LENGTH: "length",
    text_pb2.FINISH_REASON_STOP_SEQUENCE: "stop",
    text_pb2.FINISH_REASON_END_OF_SEQUENCE: "eos",
    text_pb2.FINISH_REASON_CANCELLED: "cancelled",
}


class Usage(BaseModel):
    """Token counts of a request, in OpenAI's field names (built from the proto with ``model_validate``)."""

    model_config = ConfigDict(from_attributes=True)

    prompt_tokens: int = Field(description="tokens in the prompt after the chat template was applied")
    completion_tokens: int = Field(description="tokens generated")
    total_tokens: int = Field(description="prompt_tokens + completion_tokens")


class TextTimings(BaseModel):
    """Where a text request's time went, in seconds, as the text service measured it."""

    model_config = ConfigDict(from_attributes=True)

    queue_seconds: float = Field(description="arrival to the first forward pass that included the request")
    time_to_first_token_seconds: float = Field(description="arrival to the first generated token")
    total_seconds: float = Field(description="arrival to the last generated token")


def finish_reason_name(reason: int) -> str:
    """Hearth's own names: length, stop (a stop string), eos (end of sequence), cancelled."""
    return FINISH_REASON_NAMES.get(reason, "unknown")


def sampling_params(
    *,
    max_new_tokens: int | None,
    temperature: float | None,
    top_p: float | None = None,
    top_k: int | None = None,
    repetition_penalty: float | None = None,
    seed: int | None = None,
    stop: Sequence[str] = (),
) -> text_pb2.SamplingParams:
    """The contract's SamplingParams; unset fields stay unset so the service's defaults apply."""
    params = text_pb2.SamplingParams(temperature=temperature or 0.0, top_k=top_k or 0, stop=list(stop))
    if max_new_tokens is not None:
        params.max_new_tokens = max_new_tokens
    if top_p is not None:
        params.top_p = top_p
    if repetition_penalty is not None:
        params.repetition_penalty = repetition_penalty
    if seed is not None:
        params.seed = seed
    return params
