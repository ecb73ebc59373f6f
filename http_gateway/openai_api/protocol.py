"""OpenAI request and response bodies, in one place (as vLLM keeps them), limited to what Hearth serves.

Fields OpenAI defines that Hearth has no equivalent for (logprobs, tools, penalties…) are not declared
and are ignored when sent, as other local OpenAI-compatible servers do. ``top_k`` and
``repetition_penalty`` are accepted as extensions, like vLLM's.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from http_gateway.image_contract import OutputFormat
from http_gateway.proto_fields import (
    GuidanceScale,
    PositiveUInt32,
    RepetitionPenalty,
    Temperature,
    Text,
    TopK,
    TopP,
)
from http_gateway.text_contract import Usage

# OpenAI's seed is a signed 64-bit integer; it is folded onto the contract's uint64.
Seed = Annotated[int, Field(ge=-(2**63), le=2**64 - 1)]
Choices = Annotated[int, Field(ge=1, le=16, description="choices to generate for each prompt")]
Stop = Text | Annotated[list[Text], Field(max_length=16)] | None


class StreamOptions(BaseModel):
    include_usage: bool = Field(False, description="send a last chunk with the usage of the whole request")


class SamplingFields(BaseModel):
    """Sampling fields shared by completions and chat completions."""

    model: str | None = Field(None, description="any name: the gateway serves the text backend's one model")
    temperature: Temperature | None = Field(None, description="default 1; 0 means greedy")
    top_p: TopP | None = None
    n: Choices = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: Stop = None
    seed: Seed | None = None
    top_k: TopK | None = Field(None, description="extension: keep the k most likely tokens")
    repetition_penalty: RepetitionPenalty | None = Field(None, description="extension: 1 means no penalty")


class CompletionRequest(SamplingFields):
    """POST /v1/completions."""

    prompt: Text | Annotated[list[Text], Field(min_length=1, max_length=16)]
    max_tokens: PositiveUInt32 | None = Field(16, description="tokens to generate at most per choice")
    echo: bool = Field(False, description="start each choice's text with its prompt")


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: None = None
    finish_reason: str | None


class CompletionResponse(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class ContentPart(BaseModel):
    type: Literal["text"]
    text: Text


class ChatMessageIn(BaseModel):
    """One message of the conversation; ``developer`` is treated as ``system``."""

    role: Literal["system", "developer", "user", "assistant"]
    content: Text | list[ContentPart] | None = None
    name: str | None = None


class ChatCompletionRequest(SamplingFields):
    """POST /v1/chat/completions."""

    messages: Annotated[list[ChatMessageIn], Field(min_length=1)]
    max_tokens: PositiveUInt32 | None = Field(None, description="deprecated name of max_completion_tokens")
    max_completion_tokens: PositiveUInt32 | None = Field(None, description="tokens to generate at most per choice")


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: ChatMessageOut
    logprobs: None = None
    finish_reason: str | None


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChatChunkChoice(BaseModel):
    index: int
    delta: ChatDelta
    logprobs: None = None
    finish_reason: str | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "hearth"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


ImageSize = Annotated[str, Field(pattern=r"^(auto|[0-9]{1,5}x[0-9]{1,5})$")]


class ImageGenerationRequest(BaseModel):
    """POST /v1/images/generations; steps, guidance, seed and the rest are Hearth extensions."""

    prompt: Text
    model: str | None = None
    n: PositiveUInt32 = Field(1, description="images to generate")
    size: ImageSize | None = Field(
        None, description="WIDTHxHEIGHT in pixels, multiples of 8; auto or absent: the pipeline's native size"
    )
    response_format: Literal["b64_json"] | None = Field(
        "b64_json", description="only b64_json: the gateway keeps no files to link to"
    )
    output_format: OutputFormat | None = None
    negative_prompt: Text | None = None
    num_inference_steps: PositiveUInt32 | None = None
    guidance_scale: GuidanceScale | None = None
    seed: Annotated[int, Field(ge=0, le=2**64 - 1)] | None = None
    scheduler: Text | None = None


class ImageData(BaseModel):
    b64_json: str
    revised_prompt: None = None
    seed: int = Field(description="extension: the seed this image was drawn with")


class ImagesResponse(BaseModel):
    created: int
    data: list[ImageData]
    output_format: OutputFormat | None = None
