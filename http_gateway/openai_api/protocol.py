"""OpenAI request and response bodies, in one place (as vLLM keeps them), limited to what Hearth serves.

Fields OpenAI defines that Hearth has no equivalent for (penalties, ``parallel_tool_calls``…) are not
declared and are ignored when sent, as other local OpenAI-compatible servers do. ``top_k`` and
``repetition_penalty`` are accepted as extensions, like vLLM's. JSON Schemas (``response_format``, tool
parameters) are taken as any JSON object: the text service compiles them and names what is wrong.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from http_gateway.image_contract import OutputFormat
from http_gateway.proto_fields import (
    GuidanceScale,
    PositiveUInt32,
    RepetitionPenalty,
    Temperature,
    Text,
    TopK,
    TopP,
    UInt32,
)
from http_gateway.text_contract import Usage

# OpenAI's seed is a signed 64-bit integer; it is folded onto the contract's uint64.
Seed = Annotated[int, Field(ge=-(2**63), le=2**64 - 1)]
Choices = Annotated[int, Field(ge=1, le=16, description="choices to generate for each prompt")]
Stop = Text | Annotated[list[Text], Field(max_length=16)] | None
JsonSchema = dict[str, Any]
# OpenAI's stand-in for "too unlikely to say" (JSON has no -Infinity): a token the constraint forbids.
UNLIKELY_LOGPROB = -9999.0


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
    logprobs: UInt32 | None = Field(
        None,
        description="give each generated token's logprob and this many most likely alternatives (the text "
        "service's max_top_logprobs at most); with echo, the prompt's tokens get none",
    )


class CompletionLogprobs(BaseModel):
    """OpenAI's legacy logprobs: parallel lists, one entry per generated token."""

    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]]
    text_offset: list[int] = Field(description="where each token starts in the choice's text")


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: CompletionLogprobs | None = None
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


class FunctionCall(BaseModel):
    name: Text
    arguments: Text = Field(description="the arguments, as the text of a JSON object")


class ToolCall(BaseModel):
    """One call the model made, as a response carries it and a later assistant message repeats it."""

    id: Text
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessageIn(BaseModel):
    """One message of the conversation; ``developer`` is treated as ``system``.

    An assistant message may carry the ``tool_calls`` a previous response made; a ``tool`` message answers
    one of them by ``tool_call_id``.
    """

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Text | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: Text | None = None


class FunctionDefinition(BaseModel):
    name: Text
    description: Text | None = None
    parameters: JsonSchema | None = Field(None, description="JSON Schema of the arguments object")
    strict: bool | None = Field(None, description="accepted; the arguments of a forced call always validate")


class ChatTool(BaseModel):
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(BaseModel):
    name: Text


class NamedToolChoice(BaseModel):
    type: Literal["function"]
    function: NamedFunction


class TextFormat(BaseModel):
    type: Literal["text"]


class JsonObjectFormat(BaseModel):
    """Any JSON object."""

    type: Literal["json_object"]


class JsonSchemaSpec(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: Text
    description: Text | None = None
    json_schema: JsonSchema | None = Field(
        None, alias="schema", description="JSON Schema the reply validates against; absent: any JSON object"
    )
    strict: bool | None = Field(None, description="accepted; the reply always validates against the schema")


class JsonSchemaFormat(BaseModel):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]


class ChatCompletionRequest(SamplingFields):
    """POST /v1/chat/completions."""

    messages: Annotated[list[ChatMessageIn], Field(min_length=1)]
    max_tokens: PositiveUInt32 | None = Field(None, description="deprecated name of max_completion_tokens")
    max_completion_tokens: PositiveUInt32 | None = Field(None, description="tokens to generate at most per choice")
    response_format: ResponseFormat | None = None
    tools: list[ChatTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = Field(
        None, description="default: auto with tools, none without"
    )
    logprobs: bool | None = Field(None, description="give each generated token's logprob")
    top_logprobs: UInt32 | None = Field(
        None, description="with logprobs: this many most likely alternatives per token (the service's limit applies)"
    )


class TopLogprob(BaseModel):
    token: str
    logprob: float = Field(description=f"natural log of the probability; {UNLIKELY_LOGPROB} for a forbidden token")
    bytes: list[int] | None = Field(description="the token's UTF-8 bytes (a token may hold part of a character)")


class TokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprob] | None
    refusal: None = None


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: None = None
    tool_calls: list[ToolCall] | None = None


class ChatChoice(BaseModel):
    index: int
    message: ChatMessageOut
    logprobs: ChoiceLogprobs | None = None
    finish_reason: str | None


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class FunctionCallDelta(BaseModel):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(BaseModel):
    """A piece of call ``index``: its first piece has ``id``, ``type`` and the name; later ones more arguments."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionCallDelta


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChatChunkChoice(BaseModel):
    index: int
    delta: ChatDelta
    logprobs: ChoiceLogprobs | None = None
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
