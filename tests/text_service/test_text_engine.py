"""The continuous batching engine in-process, on the embedded model: greedy, seeds, admission, failures."""

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import torch

from serving_core.request_errors import NotReady, OutOfDeviceMemory, QueueFull
from text_service.engine import Completion, EngineRequest, FinishReason, SamplingOptions, TextBatching, TextDelta
from text_service.loading import LoadedModel
from text_service.transformers_engine import TransformersEngine

PROMPT = "The old lighthouse keeper climbed the stairs and"
SMALL = TextBatching(max_batch_size=8, max_queue=4, max_batch_tokens=256, kv_cache_tokens=2048)


@pytest.fixture
async def engine(loaded_text_model: LoadedModel) -> AsyncIterator[TransformersEngine]:
    engine = TransformersEngine(loaded_text_model, SMALL)
    engine.start()
    yield engine
    await engine.close()


def _prompt_ids(loaded: LoadedModel) -> list[int]:
    return list(loaded.tokenizer(PROMPT)["input_ids"])


async def _run(
    engine: TransformersEngine, request_id: str, ids: list[int], sampling: SamplingOptions
) -> tuple[list[int], Completion]:
    engine.submit(EngineRequest(request_id, ids, sampling, time.perf_counter()))
    tokens: list[int] = []
    completion = None
    async for event in engine.stream(request_id):
        if isinstance(event, TextDelta):
            tokens.extend(event.token_ids)
        else:
            completion = event
    assert isinstance(completion, Completion)
    return tokens, completion


async def test_temperature_zero_is_greedy_decoding(loaded_text_model: LoadedModel) -> None:
    ids = _prompt_ids(loaded_text_model)
    with torch.inference_mode():
        expected = loaded_text_model.model.generate(
            torch.tensor([ids]), max_new_tokens=12, do_sample=False, pad_token_id=loaded_text_model.eos_token_ids[0]
        )[0, len(ids) :].tolist()
    engine = TransformersEngine(loaded_text_model, SMALL)
    engine.start()
    try:
        tokens, completion = await _run(engine, "greedy", ids, SamplingOptions(max_new_tokens=12))
    finally:
        await engine.close()
    assert tokens == expected
    assert completion.finish_reason in (FinishReason.LENGTH, FinishReason.END_OF_SEQUENCE)
    assert completion.completion_tokens == len(tokens)


async def test_a_seed_gives_the_same_tokens_alone_and_inside_a_busy_batch(
    engine: TransformersEngine, loaded_text_model: LoadedModel
) -> None:
    ids = _prompt_ids(loaded_text_model)
    seeded = SamplingOptions(max_new_tokens=16, temperature=1.0, top_k=100, seed=7)
    alone, _ = await _run(engine, "alone", ids, seeded)
    others = [
        _run(engine, f"other-{seed}", ids, SamplingOptions(max_new_tokens=16, temperature=1.0, seed=seed))
        for seed in (1, 2, 3)
    ]
    (together, _), *other_results = await asyncio.gather(_run(engine, "together", ids, seeded), *others)
    assert together == alone
    assert any(tokens != alone for tokens, _ in other_results), "other seeds drew other tokens"
    assert engine.stats().peak_batch_size > 1


async def test_a_full_queue_is_refused_and_cancelling_frees_the_places(
    engine: TransformersEngine, loaded_text_model: LoadedModel
) -> None:
    ids = _prompt_ids(loaded_text_model)
    capacity = SMALL.max_batch_size + SMALL.max_queue
    for index in range(capacity):
        engine.submit(EngineRequest(f"r{index}", ids, SamplingOptions(max_new_tokens=200), time.perf_counter()))
    with pytest.raises(QueueFull, match="max_queue 4"):
        engine.submit(EngineRequest("one-too-many", ids, SamplingOptions(max_new_tokens=2), time.perf_counter()))
    completions = [engine.cancel(f"r{index}") for index in range(capacity)]
    assert all(c is not None and c.finish_reason is FinishReason.CANCELLED for c in completions)
    tokens, _ = await _run(engine, "after", ids, SamplingOptions(max_new_tokens=2))
    assert tokens


async def test_out_of_memory_fails_the_requests_and_the_engine_keeps_serving(
    engine: TransformersEngine, loaded_text_model: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _prompt_ids(loaded_text_model)
    model = loaded_text_model.model

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(model, "forward", out_of_memory)
    with pytest.raises(OutOfDeviceMemory, match="out of device memory"):
        await _run(engine, "doomed", ids, SamplingOptions(max_new_tokens=4))
    monkeypatch.undo()
    deadline = time.monotonic() + 60
    while True:
        try:
            tokens, completion = await _run(engine, "survivor", ids, SamplingOptions(max_new_tokens=4))
            break
        except NotReady:
            assert time.monotonic() < deadline, "the engine did not come back"
            await asyncio.sleep(0.1)
    assert completion.completion_tokens == len(tokens) > 0
