"""`python -m bench.structured`: JSON-Schema-constrained decoding, checked and timed, on each text engine.

For each engine it starts the text service alone on the embedded model and then

1. sends ``--requests`` chat requests constrained by a JSON Schema with nested objects, arrays, enums and
   required fields (half unary, half streamed, ``--streams`` at a time, greedy, a different prompt each)
   and counts the answers that parse and validate (``jsonschema``): the issue's acceptance run;
2. keeps ``--streams`` clients busy for ``--seconds`` with unconstrained requests, then as long with
   constrained ones (three times each, alternating), and compares the medians of the aggregate generated
   tokens per second.

Prints a Markdown table with the 1-minute load average: on a shared machine the ratio is what to read.
"""

import argparse
import asyncio
import itertools
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import jsonschema
import psutil

from hearth.text.v1 import text_service_pb2 as pb
from hearth.text.v1 import text_service_pb2_grpc as pb_grpc
from tests.service_processes import ServiceProcess, free_port, service_env

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 16},
        "age": {"type": "integer"},
        "role": {"enum": ["cook", "smith", "sailor", "farmer"]},
        "home": {
            "type": "object",
            "properties": {"town": {"type": "string", "maxLength": 16}, "by_the_sea": {"type": "boolean"}},
            "required": ["town", "by_the_sea"],
            "additionalProperties": False,
        },
        "tools": {"type": "array", "items": {"enum": ["axe", "net", "pot", "hoe"]}, "minItems": 1, "maxItems": 3},
    },
    "required": ["name", "age", "role", "home", "tools"],
    "additionalProperties": False,
}
SUBJECTS = ["villager", "sailor", "cook", "smith", "farmer", "child", "traveller", "miller", "weaver", "baker"]
PLACES = ["by the sea", "in the hills", "in a town", "on a farm", "in the forest"]
PROMPTS = [f"Describe a {subject} who lives {place}." for subject in SUBJECTS for place in PLACES]
MAX_NEW_TOKENS = 160
FREE_TOKENS = 64
ROUNDS = 3


@dataclass(frozen=True)
class EngineResult:
    engine: str
    requests: int
    valid: int
    free_tok_s: float
    guided_tok_s: float
    load_average: float

    @property
    def cost(self) -> float:
        return 1.0 - self.guided_tok_s / self.free_tok_s


def _params(prompt: str, guided: bool) -> pb.TextParams:
    return pb.TextParams(
        messages=[pb.ChatMessage(role="user", content=prompt)],
        sampling=pb.SamplingParams(max_new_tokens=MAX_NEW_TOKENS if guided else FREE_TOKENS),
        guided=pb.GuidedDecoding(json_schema=json.dumps(SCHEMA)) if guided else None,
    )


async def _answer(stub: pb_grpc.TextGenerationServiceStub, params: pb.TextParams, streamed: bool) -> tuple[str, int]:
    """The text and the number of generated tokens of one request."""
    if not streamed:
        reply = await stub.Generate(pb.GenerateRequest(params=params))
        return reply.text, reply.usage.completion_tokens
    texts, tokens = [], 0
    async for message in stub.GenerateStream(pb.GenerateStreamRequest(params=params)):
        texts.append(message.text)
        tokens += len(message.token_ids)
    return "".join(texts), tokens


def _validates(text: str) -> bool:
    try:
        jsonschema.validate(json.loads(text), SCHEMA)
    except (json.JSONDecodeError, jsonschema.ValidationError):
        return False
    return True


async def _acceptance(stub: pb_grpc.TextGenerationServiceStub, requests: int, streams: int) -> int:
    """How many of ``requests`` constrained answers parse and validate; the failures are printed."""
    gate = asyncio.Semaphore(streams)

    async def one(index: int) -> bool:
        async with gate:
            text, _ = await _answer(stub, _params(PROMPTS[index % len(PROMPTS)], True), streamed=index % 2 == 1)
        if not _validates(text):
            print(f"  request {index} did not validate: {text!r}")
            return False
        return True

    return sum(await asyncio.gather(*(one(index) for index in range(requests))))


async def _throughput(stub: pb_grpc.TextGenerationServiceStub, guided: bool, streams: int, seconds: float) -> float:
    """Aggregate generated tokens per second with ``streams`` clients busy for ``seconds`` (closed loop)."""
    prompts = itertools.cycle(PROMPTS)
    ends = time.perf_counter() + seconds
    started = time.perf_counter()

    async def client(offset: int) -> int:
        tokens = 0
        while time.perf_counter() < ends:
            _, generated = await _answer(stub, _params(next(prompts), guided), streamed=True)
            tokens += generated
        return tokens

    total = sum(await asyncio.gather(*(client(offset) for offset in range(streams))))
    return total / (time.perf_counter() - started)


async def _measure(target: str, engine: str, requests: int, streams: int, seconds: float) -> EngineResult:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.TextGenerationServiceStub(channel)
        valid = await _acceptance(stub, requests, streams)
        rates: dict[bool, list[float]] = {False: [], True: []}
        for guided in (False, True) * ROUNDS:
            rates[guided].append(await _throughput(stub, guided, streams, seconds))
    free, constrained = statistics.median(rates[False]), statistics.median(rates[True])
    return EngineResult(engine, requests, valid, free, constrained, psutil.getloadavg()[0])


def _run_engine(model: Path, engine: str, args: argparse.Namespace, logs: Path) -> EngineResult:
    port = free_port()
    env = service_env(HEARTH_TEXT_MODEL=str(model), HEARTH_TEXT_PORT=str(port), HEARTH_TEXT_ENGINE=engine)
    service = ServiceProcess("text_service", port, env, logs / f"structured-{engine}.log").start()
    try:
        service.wait_until_serving()
        return asyncio.run(_measure(service.target, engine, args.requests, args.streams, args.seconds))
    finally:
        service.stop()


def main() -> None:
    from bench.plan import BenchPaths

    parser = argparse.ArgumentParser(prog="python -m bench.structured", description=__doc__)
    parser.add_argument("--engines", nargs="+", default=["openvino", "transformers"])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each throughput window")
    args = parser.parse_args()
    paths = BenchPaths()
    paths.results_dir.mkdir(parents=True, exist_ok=True)
    results = [_run_engine(paths.text_model, engine, args, paths.results_dir) for engine in args.engines]
    print(f"{args.streams} streams; greedy; JSON Schema with nested objects, arrays, enums and required fields")
    print("| engine | valid / requests | free tok/s | constrained tok/s | cost | load average (1 min) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for result in results:
        print(
            f"| {result.engine} | {result.valid} / {result.requests} | {result.free_tok_s:.1f} | "
            f"{result.guided_tok_s:.1f} | {result.cost:.1%} | {result.load_average:.2f} |"
        )


if __name__ == "__main__":
    main()
