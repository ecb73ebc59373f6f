"""OpenVINO GenAI's `ContinuousBatchingPipeline` in-process, in a process of its own: the engine's ceiling.

The bench measures every system alone and in the environment of the configuration being screened, so the
pipeline cannot live in the bench's own process: this child loads it with the given properties (e.g.
``INFERENCE_NUM_THREADS``), says it is ready on stdout, then answers one JSON line per burst it is asked on
stdin. A burst adds N requests together and runs ``step()`` on a worker thread until every handle is
finished, stamping each token as it is read from its handle, exactly as an engine thread would. Run as
``python -m bench.openvino_child --model X [--threads N]``.
"""

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import openvino as ov
import openvino_genai
from openvino_genai.py_openvino_genai import GenerationFinishReason, GenerationHandle

from bench.stream_record import LENGTH, StreamRecord

FINISH_REASONS = {GenerationFinishReason.LENGTH: LENGTH, GenerationFinishReason.STOP: "eos"}


def run_burst(
    pipeline: openvino_genai.ContinuousBatchingPipeline, prompt_ids: ov.Tensor, command: dict, first_id: int
) -> list[StreamRecord]:
    config = openvino_genai.GenerationConfig()
    config.max_new_tokens = command["max_new_tokens"]
    config.do_sample = False
    records: list[StreamRecord] = []
    handles: list[GenerationHandle] = []
    for index in range(command["streams"]):
        records.append(StreamRecord())
        handles.append(pipeline.add_request(first_id + index, prompt_ids, config))
    deadline = time.perf_counter() + command["time_limit"]
    while pipeline.has_non_finished_requests() and time.perf_counter() < deadline:
        pipeline.step()
        for record, handle in zip(records, handles, strict=True):
            if record.finished is None and handle.can_read():
                for output in handle.read().values():
                    if output.generated_ids:
                        record.tokens_arrived(len(output.generated_ids))
                    if output.finish_reason != GenerationFinishReason.NONE:
                        record.finish(FINISH_REASONS.get(output.finish_reason, str(output.finish_reason)), None)
    for record, handle in zip(records, handles, strict=True):
        if record.finished is None:
            handle.cancel()
            record.fail(f"no answer within the {command['time_limit']:.0f}s limit")
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="GGUF file (or OpenVINO IR folder)")
    parser.add_argument("--threads", type=int, help="INFERENCE_NUM_THREADS; the plugin's own choice if omitted")
    args = parser.parse_args()
    properties = {} if args.threads is None else {"INFERENCE_NUM_THREADS": args.threads}
    scheduler = openvino_genai.SchedulerConfig()
    pipeline = openvino_genai.ContinuousBatchingPipeline(args.model, scheduler, "CPU", properties)
    tokenizer = pipeline.get_tokenizer()
    print(json.dumps({"ready": True, "engine": f"openvino-genai {openvino_genai.get_version()}"}), flush=True)
    engine_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openvino-steps")
    next_id = 0
    for line in sys.stdin:
        command = json.loads(line)
        prompt_ids = tokenizer.encode(command["prompt"]).input_ids
        records = engine_thread.submit(run_burst, pipeline, prompt_ids, command, next_id).result()
        next_id += command["streams"]
        print(json.dumps({"records": [record.to_json() for record in records]}), flush=True)


if __name__ == "__main__":
    main()
