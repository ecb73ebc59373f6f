"""The OpenAI routes over fake backends, driven by the official openai SDK exactly as users drive it."""

import base64

import openai
import pytest

from hearth.text.v1 import text_service_pb2 as text_pb2
from http_gateway.openai_api.text_choices import openai_finish_reason
from tests.http_gateway.fake_backends import FakeBackend


async def test_models_lists_what_the_backends_serve(sdk: openai.AsyncOpenAI) -> None:
    models = await sdk.models.list()
    assert [model.id for model in models.data] == ["fake-text", "fake-image"]


async def test_completion_whole_and_streamed_agree(sdk: openai.AsyncOpenAI, fake_text: FakeBackend) -> None:
    whole = await sdk.completions.create(model="any", prompt="Hello", max_tokens=4, temperature=0)
    assert (whole.model, whole.object, whole.choices[0].text) == ("fake-text", "text_completion", " w0 w1 w2 w3")
    assert whole.choices[0].finish_reason == "length"
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (3, 4)
    assert fake_text.log.requests[-1].params.sampling.temperature == 0
    stream = await sdk.completions.create(
        model="any", prompt="Hello", max_tokens=4, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(choice.text for chunk in chunks for choice in chunk.choices) == whole.choices[0].text
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 4


async def test_completion_defaults_follow_openai(sdk: openai.AsyncOpenAI, fake_text: FakeBackend) -> None:
    await sdk.completions.create(model="any", prompt="Hello")
    sampling = fake_text.log.requests[-1].params.sampling
    assert (sampling.max_new_tokens, sampling.temperature) == (16, 1.0)


async def test_several_prompts_and_choices_with_echo(sdk: openai.AsyncOpenAI, fake_text: FakeBackend) -> None:
    reply = await sdk.completions.create(model="any", prompt=["A", "B"], n=2, max_tokens=1, seed=10, echo=True)
    assert [(choice.index, choice.text) for choice in reply.choices] == [
        (0, "A w0"),
        (1, "A w0"),
        (2, "B w0"),
        (3, "B w0"),
    ]
    sent = fake_text.log.requests[-4:]
    assert sorted(request.params.sampling.seed for request in sent) == [10, 10, 11, 11]
    assert len({request.request_id for request in sent}) == 4, "the text engine refuses duplicate ids"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (6, 4)


async def test_chat_whole_and_streamed_agree(sdk: openai.AsyncOpenAI, fake_text: FakeBackend) -> None:
    messages = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]},
    ]
    whole = await sdk.chat.completions.create(model="any", messages=messages, max_completion_tokens=3)
    assert whole.choices[0].message.role == "assistant"
    assert whole.choices[0].message.content == " w0 w1 w2"
    sent = fake_text.log.requests[-1]
    assert [(m.role, m.content) for m in sent.params.messages] == [("system", "Be brief."), ("user", "Hi\nthere")]
    assert sent.params.prompt == ""
    stream = await sdk.chat.completions.create(
        model="any", messages=messages, max_tokens=3, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage.total_tokens == 6


async def test_chat_stream_with_several_choices(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(
        model="any", messages=[{"role": "user", "content": "Hi"}], max_tokens=2, n=3, stream=True
    )
    texts = {0: "", 1: "", 2: ""}
    async for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts == {0: " w0 w1", 1: " w0 w1", 2: " w0 w1"}


async def test_images_generate_returns_base64(sdk: openai.AsyncOpenAI, fake_image: FakeBackend) -> None:
    reply = await sdk.images.generate(prompt="a hearth", n=2, size="64x128", response_format="b64_json")
    assert [base64.b64decode(image.b64_json) for image in reply.data] == [b"image-0", b"image-1"]
    params = fake_image.log.requests[-1].params
    assert (params.width, params.height, params.num_images) == (64, 128, 2)


async def test_errors_reach_the_sdk_as_its_exceptions(sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as queue_full:
        await sdk.completions.create(model="any", prompt="fail:RESOURCE_EXHAUSTED:reason=QUEUE_FULL")
    assert queue_full.value.code == "resource_exhausted"
    with pytest.raises(openai.BadRequestError) as bad:
        await sdk.chat.completions.create(
            model="any",
            messages=[
                {"role": "user", "content": "fail:INVALID_ARGUMENT:reason=INVALID_FIELD:field=sampling.max_new_tokens"}
            ],
        )
    assert bad.value.param == "max_completion_tokens"
    with pytest.raises(openai.UnprocessableEntityError):
        await sdk.images.generate(prompt="x", response_format="url")
    stream = await sdk.chat.completions.create(
        model="any", messages=[{"role": "user", "content": "midfail"}], stream=True
    )
    with pytest.raises(openai.APIError, match="fake internal"):
        async for _ in stream:
            pass


def test_finish_reasons_use_openai_names() -> None:
    assert openai_finish_reason(text_pb2.FINISH_REASON_END_OF_SEQUENCE) == "stop"
    assert openai_finish_reason(text_pb2.FINISH_REASON_STOP_SEQUENCE) == "stop"
    assert openai_finish_reason(text_pb2.FINISH_REASON_LENGTH) == "length"
