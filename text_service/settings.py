"""The text service's settings, declared once and passed down (environment ``HEARTH_TEXT_*`` or CLI flags)."""

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from default_models import text_model_path
from serving_core.models_dir import ModelsDir

PICKLED_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".ckpt"}


class TextSettings(BaseSettings):
    """Which model to serve, on what device, with which request limits and batching engine settings.

    ``model`` is a local folder (safetensors), a ``.gguf`` file, or a hub id already in the local Hugging
    Face cache; it is the operator's choice and never a request field.
    """

    model_config = SettingsConfigDict(env_prefix="HEARTH_TEXT_", cli_kebab_case=True, cli_implicit_flags=True)

    models_dir: ModelsDir = Path("models")
    model: str = Field("", description="model folder, .gguf file or cached hub id (empty: the embedded one)")
    host: str = Field("127.0.0.1", description="address the gRPC server binds")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port (0 picks a free one)")
    device: str = Field("auto", description="torch device: auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, ...")
    dtype: str = Field("auto", description="torch dtype: auto (bf16/fp16 on GPUs, float32 on CPU), float16, ...")
    quantization: Literal["none", "8bit", "4bit"] = Field(
        "none", description="bitsandbytes weight quantization on load (CUDA only)"
    )
    trust_remote_code: bool = Field(False, description="run Python code shipped with the model (off: safe default)")
    attention: str = Field("sdpa", description="attention implementation the model is loaded with")
    context_length: int = Field(0, ge=0, description="tokens per request, prompt + output (0: the model's own)")
    default_max_new_tokens: int = Field(100, ge=1, description="max_new_tokens when a request sets none")
    max_new_tokens_limit: int = Field(4096, ge=1, description="largest accepted max_new_tokens")
    max_prompt_chars: int = Field(32768, ge=1, description="longest prompt (all messages together), in characters")
    max_messages: int = Field(256, ge=1, description="most chat messages in one request")
    max_stop_sequences: int = Field(8, ge=0, description="most stop strings per request")
    max_stop_bytes: int = Field(128, ge=1, description="longest stop string, in UTF-8 bytes")
    max_batch_size: int = Field(32, ge=1, le=1024, description="most requests decoded together in one forward pass")
    max_queue: int = Field(64, ge=0, description="requests waiting beyond the batch before new ones are refused")
    max_batch_tokens: int = Field(512, ge=16, description="most tokens in one forward pass (long prompts are split)")
    kv_cache_tokens: int = Field(16384, ge=256, description="paged KV cache capacity, in tokens, all requests together")
    engine: Literal["auto", "openvino", "transformers"] = Field(
        "auto",
        description="auto: openvino on CPU for a GGUF it reads or an OpenVINO IR folder, transformers otherwise",
    )
    threads: int = Field(
        0,
        ge=0,
        description="CPU threads of the engine (0: openvino all usable cores; transformers one fewer, at least 1)",
    )
    prefix_caching: bool = Field(True, description="openvino: reuse the KV cache of a prompt prefix seen before")
    kv_cache_precision: Literal["f32", "f16", "u8"] = Field(
        "f32",
        description="openvino: KV cache element type; f32 keeps seeded sampling independent of the batch, u8 is 1/4 "
        "the memory",
    )
    warm_up: bool = Field(True, description="run warm-up requests before reporting SERVING")
    grace_seconds: float = Field(30.0, ge=0, description="how long SIGTERM waits for in-flight requests")
    max_message_mib: int = Field(16, ge=1, description="largest gRPC message, in MiB")
    log_level: str = Field("info", description="log level of the JSON log lines")

    @field_validator("model")
    @classmethod
    def _no_pickled_weights(cls, value: str) -> str:
        """Pickled checkpoints can run code when loaded: only safetensors folders and GGUF files are served."""
        if Path(value).suffix.lower() in PICKLED_SUFFIXES:
            raise ValueError("only safetensors folders and .gguf files are loaded (pickled weights can run code)")
        return value

    @model_validator(mode="after")
    def _embedded_model_by_default(self) -> "TextSettings":
        if not self.model:
            self.model = str(text_model_path(self.models_dir))
        return self

    @property
    def bind(self) -> str:
        """The address the gRPC server listens on."""
        return f"{self.host}:{self.port}"
