"""The image service's settings, declared once and passed down (environment ``HEARTH_IMAGE_*`` or CLI flags)."""

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from default_models import image_model_path
from serving_core.models_dir import ModelsDir


class ImageSettings(BaseSettings):
    """Which pipeline to serve, on what device, with which memory options, limits and batching.

    ``model`` is a diffusers folder, a ``.safetensors`` single-file checkpoint, or a hub id already in the
    local Hugging Face cache; it is the operator's choice and never a request field.
    """

    model_config = SettingsConfigDict(env_prefix="HEARTH_IMAGE_", cli_kebab_case=True, cli_implicit_flags=True)

    models_dir: ModelsDir = Path("models")
    model: str = Field("", description="diffusers folder, .safetensors file or cached hub id (empty: the embedded one)")
    single_file_config: str = Field(
        "",
        description="diffusers folder or cached hub id whose configs describe a .safetensors checkpoint; "
        "empty: the base model diffusers infers from the checkpoint, which must be in the local cache",
    )
    host: str = Field("127.0.0.1", description="address the gRPC server binds")
    port: int = Field(50052, ge=0, le=65535, description="gRPC port (0 picks a free one)")
    device: str = Field("auto", description="torch device: auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, ...")
    dtype: str = Field("auto", description="torch dtype: auto (float16 on GPUs, float32 on CPU), float16, ...")
    attention_slicing: bool = Field(False, description="compute attention in slices (less memory, slower)")
    vae_slicing: bool = Field(False, description="decode the images of a batch one at a time")
    vae_tiling: bool = Field(False, description="decode large images in tiles")
    model_cpu_offload: bool = Field(False, description="keep sub-models on the CPU until they run (GPU only)")
    max_batch_images: int = Field(8, ge=1, le=64, description="most images in one pipeline call")
    batch_wait_ms: int = Field(25, ge=0, le=10_000, description="how long a request waits for batch companions")
    max_queue: int = Field(32, ge=1, description="requests waiting beyond this many are refused")
    min_size: int = Field(64, ge=8, description="smallest width or height in pixels")
    max_size: int = Field(2048, ge=8, description="largest width or height in pixels")
    max_steps: int = Field(150, ge=1, description="largest num_inference_steps")
    max_num_images: int = Field(8, ge=1, description="largest num_images of one request")
    max_guidance_scale: float = Field(30.0, ge=0, description="largest guidance_scale")
    max_prompt_chars: int = Field(4096, ge=1, description="longest prompt or negative prompt, in characters")
    max_input_bytes: int = Field(16 * 2**20, ge=1, le=2**32 - 1, description="largest input image or mask, in bytes")
    max_input_pixels: int = Field(
        2048 * 2048, ge=1, le=2**32 - 1, description="largest input image or mask, in pixels (width x height)"
    )
    default_steps: int | None = Field(None, ge=1, description="default num_inference_steps (auto: 50, Turbo 1, LCM 4)")
    default_guidance_scale: float | None = Field(
        None, ge=0, description="default guidance_scale (auto: 7.5, Turbo 0, LCM 8 or 1 for a merged LCM-LoRA)"
    )
    grace_seconds: float = Field(30.0, ge=0, description="how long SIGTERM waits for in-flight requests")
    max_message_mib: int = Field(256, ge=1, description="largest gRPC message, in MiB")
    log_level: str = Field("info", description="log level of the JSON log lines")

    @field_validator("model")
    @classmethod
    def _safetensors_only(cls, value: str) -> str:
        """Pickled checkpoints (.ckpt, .bin, .pt) can run code when loaded: only safetensors files are served."""
        if Path(value).suffix.lower() in {".ckpt", ".bin", ".pt", ".pth", ".pkl"}:
            raise ValueError("only .safetensors checkpoints are loaded (pickled weights can run code)")
        return value

    @model_validator(mode="after")
    def _embedded_model_by_default(self) -> "ImageSettings":
        if not self.model:
            self.model = str(image_model_path(self.models_dir))
        return self

    @model_validator(mode="after")
    def _sizes_in_order(self) -> "ImageSettings":
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) must not exceed max_size ({self.max_size})")
        return self

    @property
    def bind(self) -> str:
        """The address the gRPC server listens on."""
        return f"{self.host}:{self.port}"
