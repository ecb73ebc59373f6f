"""Loading the one diffusers pipeline the service owns, offline, from safetensors only.

Three sources go through diffusers' own loaders: a diffusers folder or a hub id already in the local cache
(``AutoPipelineForText2Image.from_pretrained``), or a single ``.safetensors`` checkpoint of the SD 1.x/2.x/SDXL
families (``from_single_file`` on the pipeline class the checkpoint's keys point to). The embedded tiny
pipeline is a diffusers folder and takes exactly the first path.

The safety checker is whatever the pipeline's own config says: a folder whose ``model_index.json`` names one
(as the original SD 1.x repositories do) runs it and blacks out flagged images; folders that set it to null,
SDXL (which has none) and single-file checkpoints (diffusers never loads one from a single file) run without.
"""

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diffusers
import torch
import transformers
from diffusers import AutoPipelineForText2Image, DiffusionPipeline
from diffusers.loaders.single_file_utils import infer_diffusers_model_type
from safetensors import safe_open

from image_service.latent_preview import LatentPreviewer
from image_service.mode_pipelines import ModePipelines
from image_service.settings import ImageSettings
from serving_core.model_service import ModelLoadError
from serving_core.structured_logging import log_fields
from serving_core.torch_device import resolve_device, resolve_dtype

logger = logging.getLogger(__name__)

SINGLE_FILE_PIPELINES = {
    "v1": "StableDiffusionPipeline",
    "v2": "StableDiffusionPipeline",
    "xl_base": "StableDiffusionXLPipeline",
    "playground-v2-5": "StableDiffusionXLPipeline",
}


@dataclass(frozen=True)
class MemoryOptions:
    """The memory options in force (model CPU offload only counts on an accelerator)."""

    attention_slicing: bool
    vae_slicing: bool
    vae_tiling: bool
    model_cpu_offload: bool


@dataclass
class LoadedPipeline:
    """The pipeline on its device, with what the service reports about it.

    ``modes`` holds the pipeline of each supported mode (the loaded one for text-to-image and those derived
    from it for edits, sharing its weights); ``previewer`` turns latents into cheap previews.
    """

    pipeline: DiffusionPipeline
    model_id: str
    device: torch.device
    dtype: torch.dtype
    memory: MemoryOptions
    modes: ModePipelines
    previewer: LatentPreviewer

    @property
    def native_size(self) -> int:
        """The size the UNet was trained at, in pixels (512 for SD 1.5, 1024 for SDXL)."""
        return int(self.pipeline.unet.config.sample_size) * self.pipeline.vae_scale_factor

    @property
    def has_safety_checker(self) -> bool:
        return getattr(self.pipeline, "safety_checker", None) is not None


def image_dtype(requested: str, device: torch.device) -> torch.dtype:
    """``auto`` is float16 on CUDA (what SD weights are published and tuned in), else serving_core's choice."""
    if requested == "auto" and device.type == "cuda":
        return torch.float16
    return resolve_dtype(requested, device)


def route_library_logs() -> None:
    """diffusers and transformers print to stderr with their own handlers and progress bars; sending their
    records through the root logger keeps every line of the service's output JSON."""
    for library_logging in (diffusers.utils.logging, transformers.utils.logging):
        library_logging.disable_default_handler()
        library_logging.enable_propagation()
        library_logging.disable_progress_bar()


def load_pipeline(settings: ImageSettings) -> LoadedPipeline:
    """Loads the configured pipeline onto its device with the configured memory options."""
    route_library_logs()
    device = resolve_device(settings.device)
    dtype = image_dtype(settings.dtype, device)
    source = Path(settings.model).expanduser()
    _check_readable(source, settings.model)
    try:
        if source.is_file():
            pipeline = _from_single_file(source, settings.single_file_config, dtype)
        else:
            pipeline = AutoPipelineForText2Image.from_pretrained(
                str(source) if source.is_dir() else settings.model,
                dtype=dtype,
                use_safetensors=True,
                local_files_only=True,
            )
    except ModelLoadError:
        raise
    except (OSError, ValueError) as error:
        raise ModelLoadError(
            f"HEARTH_IMAGE_MODEL={settings.model!r} cannot be loaded offline: it must be a diffusers folder with "
            f"safetensors weights, a .safetensors checkpoint, or a hub id already in the local cache ({error})"
        ) from error
    memory = _apply_memory_options(pipeline, settings, device)
    pipeline.set_progress_bar_config(disable=True)
    modes = ModePipelines(pipeline, dtype)
    previewer = LatentPreviewer.fit(pipeline.vae)
    loaded = LoadedPipeline(pipeline, _model_id(settings.model, source), device, dtype, memory, modes, previewer)
    log_fields(
        logger,
        "pipeline loaded",
        model=loaded.model_id,
        pipeline_class=type(pipeline).__name__,
        scheduler=type(pipeline.scheduler).__name__,
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
        safety_checker=loaded.has_safety_checker,
        modes=[mode.value for mode in modes.modes],
    )
    return loaded


def _unreadable(source: Path) -> list[Path]:
    """Files under ``source`` (or ``source`` itself) this process may not read, and folders it may not list."""
    paths = [source, *sorted(source.rglob("*"))] if source.is_dir() else [source]
    return [path for path in paths if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0))]


def _described(path: Path) -> str:
    try:
        status = path.stat()
    except OSError:
        return str(path)
    return f"{path} (mode {status.st_mode & 0o777:04o}, owner uid {status.st_uid})"


def _check_readable(source: Path, configured: str) -> None:
    """Refuses a model the service's user cannot read, saying so.

    diffusers turns an unreadable weights file into "No such file or directory", which sends the operator
    looking for a missing file; in a container the usual cause is files written 0600 by root at build time.
    """
    try:
        source.stat()
    except PermissionError:
        denied = [parent for parent in reversed(source.parents) if not os.access(parent, os.R_OK | os.X_OK)][:1]
    except OSError:
        return
    else:
        denied = _unreadable(source)
    if denied:
        shown = ", ".join(map(_described, denied[:3]))
        more = f" and {len(denied) - 3} more" if len(denied) > 3 else ""
        raise ModelLoadError(
            f"HEARTH_IMAGE_MODEL={configured!r}: permission denied for uid {os.getuid()}: {shown}{more}; "
            "make the model readable by the service's user (chmod -R a+rX)"
        )


def _model_id(configured: str, source: Path) -> str:
    if source.is_file():
        return source.stem
    if source.is_dir():
        return source.resolve().name
    return configured


class _LazyCheckpoint(Mapping[str, torch.Tensor]):
    """A safetensors file seen as a state dict that reads a tensor only when asked for it.

    diffusers' model-type detection looks at a handful of keys and shapes; reading the whole multi-GB file
    for that (and again in ``from_single_file``) would double the start-up time.
    """

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._keys = set(handle.keys())

    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in self._keys:
            raise KeyError(key)
        return self._handle.get_tensor(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def _single_file_pipeline_class(path: Path, config: str) -> type[DiffusionPipeline]:
    """The text-to-image pipeline class for a checkpoint: from its config folder if given, else its keys."""
    if config:
        class_name = DiffusionPipeline.load_config(config, local_files_only=True)["_class_name"]
    else:
        with safe_open(str(path), framework="pt") as handle:
            model_type = infer_diffusers_model_type(_LazyCheckpoint(handle))
        class_name = SINGLE_FILE_PIPELINES.get(model_type, "")
        if not class_name:
            raise ModelLoadError(
                f"{path.name} looks like a {model_type!r} checkpoint; single files of the Stable Diffusion "
                f"1.x, 2.x and SDXL families are served ({', '.join(SINGLE_FILE_PIPELINES)})"
            )
    return getattr(diffusers, class_name)


def _from_single_file(path: Path, config: str, dtype: torch.dtype) -> DiffusionPipeline:
    if path.suffix.lower() != ".safetensors":
        raise ModelLoadError(f"{path.name}: only .safetensors checkpoints are loaded (pickled weights can run code)")
    pipeline_class = _single_file_pipeline_class(path, config)
    extra = {"config": config} if config else {}
    try:
        return pipeline_class.from_single_file(str(path), dtype=dtype, local_files_only=True, **extra)
    except (OSError, ValueError) as error:
        raise ModelLoadError(
            f"{path.name}: a single-file checkpoint needs its base model's diffusers configs offline; set "
            f"HEARTH_IMAGE_SINGLE_FILE_CONFIG to a diffusers folder of the same family (only its *.json and "
            f"tokenizer files are read) or put that model in the local Hugging Face cache ({error})"
        ) from error


def _apply_memory_options(pipeline: DiffusionPipeline, settings: ImageSettings, device: torch.device) -> MemoryOptions:
    """Moves the pipeline to its device, or hands it to accelerate's model offload, and sets slicing/tiling."""
    offload = settings.model_cpu_offload and device.type != "cpu"
    if settings.model_cpu_offload and not offload:
        logger.warning("model_cpu_offload ignored: the pipeline already runs on the CPU")
    if offload:
        pipeline.enable_model_cpu_offload(device=device)
    else:
        pipeline.to(device)
    if settings.attention_slicing:
        pipeline.enable_attention_slicing()
    if settings.vae_slicing:
        pipeline.vae.enable_slicing()
    if settings.vae_tiling:
        pipeline.vae.enable_tiling()
    return MemoryOptions(settings.attention_slicing, settings.vae_slicing, settings.vae_tiling, offload)
