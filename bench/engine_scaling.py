"""`python -m bench.engine_scaling`: how much more OpenVINO GenAI itself gets from 32 streams than from 16.

The gateway's 32-stream target (1.4x its 16-stream aggregate) can be no better than the engine's own
scaling, so this measures the engine alone, in this process, on the bench's burst (N greedy requests of
the bench prompt added together, 32 new tokens each, ``step()`` until all finish), 16 and 32 streams
alternating. Besides wall-clock tok/s it reports tokens per CPU second of this process: the pipeline's
work per token, which a busy machine changes far less than the wall clock, so its ratio can be read even
when the full bench refuses a verdict.
"""

import argparse
import json
import statistics
import time

import openvino_genai

from bench.openvino_child import run_burst
from bench.plan import BenchPaths, TextPlan


def _timed_burst(
    pipeline: openvino_genai.ContinuousBatchingPipeline, prompt_ids: object, streams: int, first_id: int
) -> tuple[float, float]:
    """Wall and CPU seconds of one burst of `streams` requests, driven as the full bench's OpenVINO child does."""
    command = {
        "max_new_tokens": TextPlan.max_new_tokens,
        "streams": streams,
        "time_limit": TextPlan.round_time_limit_seconds,
    }
    wall, cpu = time.perf_counter(), time.process_time()
    run_burst(pipeline, prompt_ids, command, first_id)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--properties",
        type=json.loads,
        default={},
        help='compile properties as JSON, e.g. {"KV_CACHE_PRECISION": "f32"}',
    )
    args = parser.parse_args()
    plan = TextPlan()
    pipeline = openvino_genai.ContinuousBatchingPipeline(
        str(BenchPaths().text_model), openvino_genai.SchedulerConfig(), "CPU", args.properties
    )
    prompt_ids = pipeline.get_tokenizer().encode(plan.prompt).input_ids
    _timed_burst(pipeline, prompt_ids, 4, 0)
    next_id = 4
    rates: dict[int, list[tuple[float, float]]] = {plan.streams: [], plan.high_streams: []}
    for _ in range(args.rounds):
        for streams, samples in rates.items():
            wall, cpu = _timed_burst(pipeline, prompt_ids, streams, next_id)
            next_id += streams
            tokens = streams * plan.max_new_tokens
            samples.append((tokens / wall, tokens / cpu))
    medians = {
        streams: [statistics.median(rate[i] for rate in samples) for i in (0, 1)] for streams, samples in rates.items()
    }
    low, high = medians[plan.streams], medians[plan.high_streams]
    print(f"properties {args.properties or 'defaults'}, {args.rounds} rounds, medians")
    print(f"| measure | {plan.streams} streams | {plan.high_streams} streams | ratio |")
    print("|---|---|---|---|")
    print(f"| wall-clock tok/s | {low[0]:.1f} | {high[0]:.1f} | {high[0] / low[0]:.2f}x |")
    print(f"| tokens per CPU second | {low[1]:.1f} | {high[1]:.1f} | {high[1] / low[1]:.2f}x |")


if __name__ == "__main__":
    main()
