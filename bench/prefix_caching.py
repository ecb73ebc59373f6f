"""`python -m bench.prefix_caching`: a chat workload that shares a long system prompt, with and without prefix caching.

Each run starts the text service (OpenVINO engine) with `HEARTH_TEXT_PREFIX_CACHING` on or off, alone on
the machine, and sends waves of concurrent chat requests: the same ~1,000-token system prompt, a
different short user turn each, 16 greedy tokens. The first wave fills the cache; the later waves are
measured: time to first token (the prefill that caching saves) and wall time per wave. Printed as a
Markdown table; docs/performance.md quotes it.
"""

import argparse
import asyncio
import statistics
import time
from pathlib import Path

import grpc

from hearth.text.v1 import text_service_pb2 as pb
from hearth.text.v1 import text_service_pb2_grpc as pb_grpc
from tests.service_processes import ServiceProcess, free_port, service_env

SYSTEM_PROMPT = " ".join(
    f"Rule {index}: answer politely, briefly and only about the household hearth, its fire and its care."
    for index in range(1, 61)
)
QUESTIONS = [
    f"Question {index}: how often should the chimney be swept in a house of {index} rooms?" for index in range(64)
]
MAX_NEW_TOKENS = 16


async def _one(stub: pb_grpc.TextGenerationServiceStub, question: str) -> tuple[float, int]:
    """Time to the first token and tokens received, for one chat request."""
    messages = [pb.ChatMessage(role="system", content=SYSTEM_PROMPT), pb.ChatMessage(role="user", content=question)]
    request = pb.GenerateStreamRequest(
        params=pb.TextParams(messages=messages, sampling=pb.SamplingParams(max_new_tokens=MAX_NEW_TOKENS))
    )
    started = time.perf_counter()
    first = None
    tokens = 0
    async for message in stub.GenerateStream(request):
        if message.token_ids and first is None:
            first = time.perf_counter() - started
        tokens += len(message.token_ids)
    return first or 0.0, tokens


async def _waves(target: str, concurrency: int, waves: int) -> tuple[list[float], list[float], int]:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.TextGenerationServiceStub(channel)
        prompt_tokens = len(
            (
                await stub.Tokenize(
                    pb.TokenizeRequest(
                        messages=[
                            pb.ChatMessage(role="system", content=SYSTEM_PROMPT),
                            pb.ChatMessage(role="user", content=QUESTIONS[0]),
                        ]
                    )
                )
            ).token_ids
        )
        ttfts: list[float] = []
        wave_seconds: list[float] = []
        for wave in range(waves + 1):
            questions = QUESTIONS[(wave * concurrency) % len(QUESTIONS) :][:concurrency]
            started = time.perf_counter()
            results = await asyncio.gather(*(_one(stub, question) for question in questions))
            if wave:  # the first wave fills the cache
                wave_seconds.append(time.perf_counter() - started)
                ttfts.extend(ttft for ttft, _tokens in results)
        return ttfts, wave_seconds, prompt_tokens


def _measure(model: Path, caching: bool, concurrency: int, waves: int, logs: Path) -> dict[str, float]:
    port = free_port()
    env = service_env(
        HEARTH_TEXT_MODEL=str(model),
        HEARTH_TEXT_PORT=str(port),
        HEARTH_TEXT_ENGINE="openvino",
        HEARTH_TEXT_PREFIX_CACHING="true" if caching else "false",
    )
    service = ServiceProcess("text_service", port, env, logs / f"prefix-caching-{caching}.log").start()
    try:
        service.wait_until_serving()
        ttfts, wave_seconds, prompt_tokens = asyncio.run(_waves(service.target, concurrency, waves))
    finally:
        service.stop()
    return {
        "prompt_tokens": prompt_tokens,
        "ttft_p50": statistics.median(ttfts),
        "ttft_max": max(ttfts),
        "wave_seconds": statistics.median(wave_seconds),
    }


def main() -> None:
    from bench.plan import BenchPaths

    parser = argparse.ArgumentParser(prog="python -m bench.prefix_caching", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--waves", type=int, default=3)
    args = parser.parse_args()
    paths = BenchPaths()
    paths.results_dir.mkdir(parents=True, exist_ok=True)
    rows = {
        caching: _measure(paths.text_model, caching, args.concurrency, args.waves, paths.results_dir)
        for caching in (False, True)
    }
    print(f"{args.concurrency} concurrent chat requests per wave, {args.waves} waves, {MAX_NEW_TOKENS} tokens each")
    print("| prefix caching | prompt tokens | TTFT p50 (s) | TTFT max (s) | seconds per wave |")
    print("| --- | --- | --- | --- | --- |")
    for caching, row in rows.items():
        times = " | ".join(f"{row[key]:.3f}" for key in ("ttft_p50", "ttft_max", "wave_seconds"))
        print(f"| {'on' if caching else 'off'} | {row['prompt_tokens']:.0f} | {times} |")


if __name__ == "__main__":
    main()
