"""The image service over gRPC with the generated stubs: results, formats, metadata, schedulers, info."""

import io
import math

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from PIL import Image

from hearth.image.v1 import image_service_pb2 as pb
from tests.image_service.image_client import bad_field, generate, image_stub, log_records, pixels, stream
from tests.service_processes import ServiceProcess

SERVICE = "hearth.image.v1.ImageGenerationService"
REQUIRED_SCHEDULERS = ["euler", "euler_a", "dpmpp_2m", "ddim", "pndm"]


def test_the_same_seed_gives_byte_identical_pngs_unary_and_streamed(image_service: ServiceProcess) -> None:
    with image_stub(image_service) as stub:
        first = generate(stub, seed=123)
        second = generate(stub, seed=123)
        streamed = stream(stub, seed=123)
        other_seed = generate(stub, seed=124)

    assert first.images[0].data == second.images[0].data
    assert streamed[-1].image.data == first.images[0].data
    assert other_seed.images[0].data != first.images[0].data
    assert first.images[0].seed == 123


def test_a_stream_sends_one_progress_message_per_step_in_order_then_the_images(image_service: ServiceProcess) -> None:
    with image_stub(image_service) as stub:
        messages = stream(stub, num_inference_steps=5, num_images=2, seed=40, request_id="stream-order")

    kinds = [message.WhichOneof("event") for message in messages]
    assert kinds == ["progress"] * 5 + ["image"] * 2
    progress = [message.progress for message in messages[:5]]
    assert [(p.step, p.total_steps) for p in progress] == [(step, 5) for step in range(1, 6)]
    assert [p.elapsed_seconds for p in progress] == sorted(p.elapsed_seconds for p in progress)
    images = [message.image for message in messages[5:]]
    assert [(image.index, image.seed) for image in images] == [(0, 40), (1, 41)]
    assert all(message.HasField("timings") for message in messages[5:])
    assert {message.request_id for message in messages} == {"stream-order"}


@pytest.mark.parametrize(
    ("output_format", "pillow_format", "mime_type"),
    [
        (pb.OUTPUT_FORMAT_UNSPECIFIED, "PNG", "image/png"),
        (pb.OUTPUT_FORMAT_PNG, "PNG", "image/png"),
        (pb.OUTPUT_FORMAT_JPEG, "JPEG", "image/jpeg"),
        (pb.OUTPUT_FORMAT_WEBP, "WEBP", "image/webp"),
    ],
)
def test_each_output_format_decodes_at_the_requested_size(
    image_service: ServiceProcess, output_format: int, pillow_format: str, mime_type: str
) -> None:
    with image_stub(image_service) as stub:
        reply = generate(stub, width=96, height=64, output_format=output_format)

    image = reply.images[0]
    decoded = Image.open(io.BytesIO(image.data))
    assert decoded.format == pillow_format
    assert decoded.size == (96, 64)
    assert (image.mime_type, image.width, image.height) == (mime_type, 96, 64)


def test_png_metadata_holds_the_generation_parameters_and_no_dates(image_service: ServiceProcess) -> None:
    with image_stub(image_service) as stub:
        reply = generate(
            stub,
            prompt="a red fox, snow",
            negative_prompt="blurry",
            guidance_scale=5.5,
            scheduler="Euler a",
            width=80,
            height=64,
            seed=42,
        )

    decoded = Image.open(io.BytesIO(reply.images[0].data))
    assert decoded.text["parameters"] == (
        "a red fox, snow\n"
        "Negative prompt: blurry\n"
        "Steps: 3, Sampler: Euler a, CFG scale: 5.5, Seed: 42, Size: 80x64, Model: tiny-sd"
    )
    assert set(decoded.text) == {"parameters"}
    assert b"tIME" not in reply.images[0].data


def test_several_images_use_consecutive_seeds_and_match_single_requests(image_service: ServiceProcess) -> None:
    with image_stub(image_service) as stub:
        three = generate(stub, num_images=3, seed=500)
        third_alone = generate(stub, seed=502)

    assert [image.seed for image in three.images] == [500, 501, 502]
    assert [image.index for image in three.images] == [0, 1, 2]
    assert abs(pixels(three.images[2].data) - pixels(third_alone.images[0].data)).max() <= 2


def test_an_unset_seed_is_drawn_at_random_and_reported(image_service: ServiceProcess) -> None:
    with image_stub(image_service) as stub:
        unseeded = pb.GenerateRequest(params=pb.ImageParams(prompt="x", num_inference_steps=3, width=64, height=64))
        first = stub.Generate(unseeded, timeout=120)
        second = stub.Generate(unseeded, timeout=120)

    assert first.images[0].seed != second.images[0].seed
    assert first.images[0].data != second.images[0].data


@pytest.mark.parametrize("scheduler", ["euler", "euler_a", "heun", "dpmpp_2m", "DPM++ 2M Karras", "ddim", "pndm"])
def test_each_scheduler_streams_its_steps_and_an_image(image_service: ServiceProcess, scheduler: str) -> None:
    with image_stub(image_service) as stub:
        messages = stream(stub, scheduler=scheduler, num_inference_steps=4)

    assert [message.progress.step for message in messages[:-1]] == [1, 2, 3, 4]
    assert Image.open(io.BytesIO(messages[-1].image.data)).size == (64, 64)


def test_an_unknown_scheduler_is_invalid_and_the_error_lists_the_valid_names(image_service: ServiceProcess) -> None:
    with image_stub(image_service) as stub, pytest.raises(grpc.RpcError) as refused:
        generate(stub, scheduler="warp drive")

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_field(refused.value) == "scheduler"
    for name in REQUIRED_SCHEDULERS:
        assert name in refused.value.details()


@pytest.mark.parametrize(
    ("fields", "field", "limit"),
    [
        ({"prompt": ""}, "prompt", "empty"),
        ({"prompt": "   "}, "prompt", "empty"),
        ({"prompt": "x" * 4097}, "prompt", "4096"),
        ({"negative_prompt": "x" * 4097}, "negative_prompt", "4096"),
        ({"width": 100}, "width", "multiple of 8"),
        ({"width": 32}, "width", "64"),
        ({"height": 4096}, "height", "2048"),
        ({"height": 0}, "height", "64"),
        ({"num_inference_steps": 0}, "num_inference_steps", "150"),
        ({"num_inference_steps": 151}, "num_inference_steps", "150"),
        ({"guidance_scale": -1.0}, "guidance_scale", "30"),
        ({"guidance_scale": 30.5}, "guidance_scale", "30"),
        ({"guidance_scale": math.nan}, "guidance_scale", "30"),
        ({"guidance_scale": math.inf}, "guidance_scale", "30"),
        ({"num_images": 0}, "num_images", "8"),
        ({"num_images": 9}, "num_images", "8"),
        ({"output_format": 9}, "output_format", "PNG"),
    ],
)
def test_invalid_fields_are_refused_naming_the_field_and_the_limit(
    image_service: ServiceProcess, fields: dict, field: str, limit: str
) -> None:
    with image_stub(image_service) as stub, pytest.raises(grpc.RpcError) as refused:
        generate(stub, **fields)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_field(refused.value) == field
    assert field in refused.value.details()
    assert limit in refused.value.details()


def test_invalid_requests_on_the_stream_and_long_request_ids_are_refused_too(image_service: ServiceProcess) -> None:
    with image_stub(image_service) as stub:
        with pytest.raises(grpc.RpcError) as on_stream:
            stream(stub, width=65)
        with pytest.raises(grpc.RpcError) as long_id:
            generate(stub, request_id="r" * 129)
        still_serving = generate(stub)

    assert (on_stream.value.code(), bad_field(on_stream.value)) == (grpc.StatusCode.INVALID_ARGUMENT, "width")
    assert (long_id.value.code(), bad_field(long_id.value)) == (grpc.StatusCode.INVALID_ARGUMENT, "request_id")
    assert len(still_serving.images) == 1


def test_model_info_describes_the_pipeline_limits_defaults_and_options(image_service: ServiceProcess) -> None:
    with image_stub(image_service) as stub:
        info = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=30)

    assert (info.model_id, info.pipeline_class) == ("tiny-sd", "StableDiffusionPipeline")
    assert (info.device, info.dtype) == ("cpu", "float32")
    assert set(REQUIRED_SCHEDULERS) <= set(info.schedulers)
    assert (info.defaults.width, info.defaults.height, info.defaults.num_inference_steps) == (512, 512, 50)
    assert (info.defaults.guidance_scale, info.defaults.scheduler) == (7.5, "pndm")
    assert (info.limits.min_size, info.limits.max_size, info.limits.size_multiple) == (64, 2048, 8)
    assert (info.limits.max_steps, info.limits.max_num_images, info.limits.max_guidance_scale) == (150, 8, 30)
    assert info.batching.max_batch_images == 8
    assert not info.memory.model_cpu_offload
    assert not info.safety_checker


def test_model_info_counts_each_finished_request_and_call(image_service: ServiceProcess) -> None:
    with image_stub(image_service) as stub:
        before = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=30).stats
        generate(stub, request_id="counted")
        after = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=30).stats

    assert after.finished_requests == before.finished_requests + 1
    assert after.pipeline_calls == before.pipeline_calls + 1
    assert (after.active_requests, after.queued_requests, after.last_batch_requests) == (0, 0, 1)


def test_health_reports_serving_and_reflection_lists_the_services(image_service: ServiceProcess) -> None:
    with grpc.insecure_channel(image_service.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        statuses = [
            health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status for name in ("", SERVICE)
        ]
        services = ProtoReflectionDescriptorDatabase(channel).get_services()

    assert statuses == [health_pb2.HealthCheckResponse.SERVING] * 2
    assert SERVICE in services
    assert "grpc.health.v1.Health" in services


def test_each_request_ends_with_one_structured_log_line(image_service: ServiceProcess) -> None:
    with image_stub(image_service) as stub:
        generate(stub, request_id="log-line-check", seed=9)
        with pytest.raises(grpc.RpcError):
            generate(stub, request_id="log-line-refused", width=1)

    done = log_records(image_service, "request", "log-line-check")
    refused = log_records(image_service, "request", "log-line-refused")
    assert len(done) == 1
    assert done[0]["outcome"] == "ok"
    assert (done[0]["width"], done[0]["steps"], done[0]["seed"], done[0]["steps_done"]) == (64, 3, 9, 3)
    assert done[0]["total_s"] >= done[0]["inference_s"] > 0
    assert 0 <= done[0]["queue_s"] <= done[0]["total_s"] - done[0]["inference_s"]
    assert done[0]["batch_images"] == 1
    assert [r["outcome"] for r in refused] == ["invalid_argument"]
