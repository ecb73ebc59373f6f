"""The three ways the image scenarios call the same pipeline: in-process, Hearth's gRPC, Hearth's gateway.

Each call returns what the client measured; the streaming calls return, per progress event, how long after
the service stamped the step the client received it.
"""

import time

import grpc
import httpx
import torch
from diffusers import AutoPipelineForText2Image
from httpx_sse import aconnect_sse

from bench.plan import ImagePlan
from hearth.image.v1 import image_service_pb2, image_service_pb2_grpc

REQUEST_TIMEOUT_SECONDS = 600.0


class InProcessPipeline:
    """The pipeline loaded in this process, as the service loads it on CPU (float32)."""

    def __init__(self, model_dir: str) -> None:
        self._pipe = AutoPipelineForText2Image.from_pretrained(model_dir, torch_dtype=torch.float32)
        self._pipe.set_progress_bar_config(disable=True)

    def generate(self, plan: ImagePlan) -> float:
        """Seconds for one image with the plan's arguments."""
        started = time.perf_counter()
        self._pipe(
            plan.prompt,
            num_inference_steps=plan.num_inference_steps,
            guidance_scale=plan.guidance_scale,
            height=plan.height,
            width=plan.width,
            generator=torch.Generator("cpu").manual_seed(plan.seed),
        )
        return time.perf_counter() - started


def _params(plan: ImagePlan, seed: int) -> image_service_pb2.ImageParams:
    return image_service_pb2.ImageParams(
        prompt=plan.prompt,
        num_inference_steps=plan.num_inference_steps,
        guidance_scale=plan.guidance_scale,
        width=plan.width,
        height=plan.height,
        seed=seed,
    )


class GrpcImageClient:
    def __init__(self, target: str) -> None:
        self._channel = grpc.aio.insecure_channel(
            target, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        )
        self._stub = image_service_pb2_grpc.ImageGenerationServiceStub(self._channel)

    async def generate(self, plan: ImagePlan, seed: int) -> tuple[float, image_service_pb2.Timings]:
        """Seconds for one unary `Generate`, and the timings the service reported."""
        started = time.perf_counter()
        reply = await self._stub.Generate(
            image_service_pb2.GenerateRequest(params=_params(plan, seed)), timeout=REQUEST_TIMEOUT_SECONDS
        )
        return time.perf_counter() - started, reply.timings

    async def progress_delays(self, plan: ImagePlan) -> list[float]:
        """`GenerateStream`: for each step, client receive time minus the service's elapsed stamp."""
        delays = []
        started = time.perf_counter()
        request = image_service_pb2.GenerateStreamRequest(params=_params(plan, plan.seed))
        async for message in self._stub.GenerateStream(request, timeout=REQUEST_TIMEOUT_SECONDS):
            if message.HasField("progress"):
                delays.append(time.perf_counter() - started - message.progress.elapsed_seconds)
        return delays

    async def stream_seconds(self, plan: ImagePlan, preview_every: int) -> tuple[float, int]:
        """Seconds for one `GenerateStream` up to its image, and the bytes of the previews it carried."""
        params = _params(plan, plan.seed)
        params.preview_every = preview_every
        preview_bytes = 0
        started = time.perf_counter()
        request = image_service_pb2.GenerateStreamRequest(params=params)
        async for message in self._stub.GenerateStream(request, timeout=REQUEST_TIMEOUT_SECONDS):
            preview_bytes += len(message.progress.preview.data)
        return time.perf_counter() - started, preview_bytes

    async def aclose(self) -> None:
        await self._channel.close()


class GatewayImageClient:
    def __init__(self, base_url: str) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS)

    def _body(self, plan: ImagePlan, stream: bool) -> dict:
        return {
            "prompt": plan.prompt,
            "num_inference_steps": plan.num_inference_steps,
            "guidance_scale": plan.guidance_scale,
            "height": plan.height,
            "width": plan.width,
            "seed": plan.seed,
            "stream": stream,
        }

    async def generate(self, plan: ImagePlan) -> float:
        """Seconds for one `POST /generate-image` (base64 PNG in JSON, as the original route answers)."""
        started = time.perf_counter()
        response = await self._http.post("/generate-image", json=self._body(plan, stream=False))
        response.raise_for_status()
        if not response.json().get("image_base64"):
            raise RuntimeError(f"no image in the gateway's answer: {response.text[:200]}")
        return time.perf_counter() - started

    async def progress_delays(self, plan: ImagePlan) -> list[float]:
        """SSE `progress` events: client receive time minus the service's elapsed stamp, per step."""
        delays = []
        started = time.perf_counter()
        async with aconnect_sse(self._http, "POST", "/generate-image", json=self._body(plan, stream=True)) as source:
            source.response.raise_for_status()
            async for event in source.aiter_sse():
                if event.event == "progress":
                    delays.append(time.perf_counter() - started - event.json()["elapsed_seconds"])
        return delays

    async def aclose(self) -> None:
        await self._http.aclose()
