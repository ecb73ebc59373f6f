from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OutputFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTPUT_FORMAT_UNSPECIFIED: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_PNG: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_JPEG: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_WEBP: _ClassVar[OutputFormat]

class ImageMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_MODE_UNSPECIFIED: _ClassVar[ImageMode]
    IMAGE_MODE_TEXT_TO_IMAGE: _ClassVar[ImageMode]
    IMAGE_MODE_IMAGE_TO_IMAGE: _ClassVar[ImageMode]
    IMAGE_MODE_INPAINTING: _ClassVar[ImageMode]
OUTPUT_FORMAT_UNSPECIFIED: OutputFormat
OUTPUT_FORMAT_PNG: OutputFormat
OUTPUT_FORMAT_JPEG: OutputFormat
OUTPUT_FORMAT_WEBP: OutputFormat
IMAGE_MODE_UNSPECIFIED: ImageMode
IMAGE_MODE_TEXT_TO_IMAGE: ImageMode
IMAGE_MODE_IMAGE_TO_IMAGE: ImageMode
IMAGE_MODE_INPAINTING: ImageMode

class ImageParams(_message.Message):
    __slots__ = ("prompt", "negative_prompt", "num_inference_steps", "guidance_scale", "width", "height", "seed", "num_images", "scheduler", "output_format", "init_image", "strength", "mask_image", "preview_every")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    NUM_INFERENCE_STEPS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    NUM_IMAGES_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    INIT_IMAGE_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    MASK_IMAGE_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_EVERY_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    negative_prompt: str
    num_inference_steps: int
    guidance_scale: float
    width: int
    height: int
    seed: int
    num_images: int
    scheduler: str
    output_format: OutputFormat
    init_image: bytes
    strength: float
    mask_image: bytes
    preview_every: int
    def __init__(self, prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., num_inference_steps: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., seed: _Optional[int] = ..., num_images: _Optional[int] = ..., scheduler: _Optional[str] = ..., output_format: _Optional[_Union[OutputFormat, str]] = ..., init_image: _Optional[bytes] = ..., strength: _Optional[float] = ..., mask_image: _Optional[bytes] = ..., preview_every: _Optional[int] = ...) -> None: ...

class Preview(_message.Message):
    __slots__ = ("data", "mime_type", "width", "height")
    DATA_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    mime_type: str
    width: int
    height: int
    def __init__(self, data: _Optional[bytes] = ..., mime_type: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class GeneratedImage(_message.Message):
    __slots__ = ("data", "mime_type", "seed", "width", "height", "index")
    DATA_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    mime_type: str
    seed: int
    width: int
    height: int
    index: int
    def __init__(self, data: _Optional[bytes] = ..., mime_type: _Optional[str] = ..., seed: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., index: _Optional[int] = ...) -> None: ...

class Timings(_message.Message):
    __slots__ = ("queue_seconds", "inference_seconds", "encode_seconds", "total_seconds", "batch_size")
    QUEUE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ENCODE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    queue_seconds: float
    inference_seconds: float
    encode_seconds: float
    total_seconds: float
    batch_size: int
    def __init__(self, queue_seconds: _Optional[float] = ..., inference_seconds: _Optional[float] = ..., encode_seconds: _Optional[float] = ..., total_seconds: _Optional[float] = ..., batch_size: _Optional[int] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("params", "request_id")
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    params: ImageParams
    request_id: str
    def __init__(self, params: _Optional[_Union[ImageParams, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("images", "timings", "request_id")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[GeneratedImage]
    timings: Timings
    request_id: str
    def __init__(self, images: _Optional[_Iterable[_Union[GeneratedImage, _Mapping]]] = ..., timings: _Optional[_Union[Timings, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GenerateStreamRequest(_message.Message):
    __slots__ = ("params", "request_id")
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    params: ImageParams
    request_id: str
    def __init__(self, params: _Optional[_Union[ImageParams, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class StepProgress(_message.Message):
    __slots__ = ("step", "total_steps", "elapsed_seconds", "preview")
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    step: int
    total_steps: int
    elapsed_seconds: float
    preview: Preview
    def __init__(self, step: _Optional[int] = ..., total_steps: _Optional[int] = ..., elapsed_seconds: _Optional[float] = ..., preview: _Optional[_Union[Preview, _Mapping]] = ...) -> None: ...

class GenerateStreamResponse(_message.Message):
    __slots__ = ("progress", "image", "timings", "request_id")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    progress: StepProgress
    image: GeneratedImage
    timings: Timings
    request_id: str
    def __init__(self, progress: _Optional[_Union[StepProgress, _Mapping]] = ..., image: _Optional[_Union[GeneratedImage, _Mapping]] = ..., timings: _Optional[_Union[Timings, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ImageLimits(_message.Message):
    __slots__ = ("min_size", "max_size", "size_multiple", "max_steps", "max_num_images", "max_guidance_scale", "max_prompt_chars", "max_queue", "max_input_bytes", "max_input_pixels", "input_formats")
    MIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    SIZE_MULTIPLE_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    MAX_NUM_IMAGES_FIELD_NUMBER: _ClassVar[int]
    MAX_GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    MAX_PROMPT_CHARS_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_FIELD_NUMBER: _ClassVar[int]
    MAX_INPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_INPUT_PIXELS_FIELD_NUMBER: _ClassVar[int]
    INPUT_FORMATS_FIELD_NUMBER: _ClassVar[int]
    min_size: int
    max_size: int
    size_multiple: int
    max_steps: int
    max_num_images: int
    max_guidance_scale: float
    max_prompt_chars: int
    max_queue: int
    max_input_bytes: int
    max_input_pixels: int
    input_formats: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, min_size: _Optional[int] = ..., max_size: _Optional[int] = ..., size_multiple: _Optional[int] = ..., max_steps: _Optional[int] = ..., max_num_images: _Optional[int] = ..., max_guidance_scale: _Optional[float] = ..., max_prompt_chars: _Optional[int] = ..., max_queue: _Optional[int] = ..., max_input_bytes: _Optional[int] = ..., max_input_pixels: _Optional[int] = ..., input_formats: _Optional[_Iterable[str]] = ...) -> None: ...

class ImageDefaults(_message.Message):
    __slots__ = ("width", "height", "num_inference_steps", "guidance_scale", "scheduler", "image_to_image_strength", "inpainting_strength")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    NUM_INFERENCE_STEPS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    IMAGE_TO_IMAGE_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    INPAINTING_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    num_inference_steps: int
    guidance_scale: float
    scheduler: str
    image_to_image_strength: float
    inpainting_strength: float
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., num_inference_steps: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., scheduler: _Optional[str] = ..., image_to_image_strength: _Optional[float] = ..., inpainting_strength: _Optional[float] = ...) -> None: ...

class MemoryOptions(_message.Message):
    __slots__ = ("attention_slicing", "vae_slicing", "vae_tiling", "model_cpu_offload")
    ATTENTION_SLICING_FIELD_NUMBER: _ClassVar[int]
    VAE_SLICING_FIELD_NUMBER: _ClassVar[int]
    VAE_TILING_FIELD_NUMBER: _ClassVar[int]
    MODEL_CPU_OFFLOAD_FIELD_NUMBER: _ClassVar[int]
    attention_slicing: bool
    vae_slicing: bool
    vae_tiling: bool
    model_cpu_offload: bool
    def __init__(self, attention_slicing: _Optional[bool] = ..., vae_slicing: _Optional[bool] = ..., vae_tiling: _Optional[bool] = ..., model_cpu_offload: _Optional[bool] = ...) -> None: ...

class BatchingSettings(_message.Message):
    __slots__ = ("max_batch_images", "batch_wait_ms")
    MAX_BATCH_IMAGES_FIELD_NUMBER: _ClassVar[int]
    BATCH_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    max_batch_images: int
    batch_wait_ms: int
    def __init__(self, max_batch_images: _Optional[int] = ..., batch_wait_ms: _Optional[int] = ...) -> None: ...

class ImageStats(_message.Message):
    __slots__ = ("active_requests", "queued_requests", "finished_requests", "pipeline_calls", "peak_batch_requests", "last_batch_requests")
    ACTIVE_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    QUEUED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_CALLS_FIELD_NUMBER: _ClassVar[int]
    PEAK_BATCH_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    LAST_BATCH_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    active_requests: int
    queued_requests: int
    finished_requests: int
    pipeline_calls: int
    peak_batch_requests: int
    last_batch_requests: int
    def __init__(self, active_requests: _Optional[int] = ..., queued_requests: _Optional[int] = ..., finished_requests: _Optional[int] = ..., pipeline_calls: _Optional[int] = ..., peak_batch_requests: _Optional[int] = ..., last_batch_requests: _Optional[int] = ...) -> None: ...

class GetModelInfoResponse(_message.Message):
    __slots__ = ("model_id", "pipeline_class", "device", "dtype", "schedulers", "limits", "defaults", "memory", "batching", "stats", "safety_checker", "modes")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_CLASS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULERS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    BATCHING_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    SAFETY_CHECKER_FIELD_NUMBER: _ClassVar[int]
    MODES_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    pipeline_class: str
    device: str
    dtype: str
    schedulers: _containers.RepeatedScalarFieldContainer[str]
    limits: ImageLimits
    defaults: ImageDefaults
    memory: MemoryOptions
    batching: BatchingSettings
    stats: ImageStats
    safety_checker: bool
    modes: _containers.RepeatedScalarFieldContainer[ImageMode]
    def __init__(self, model_id: _Optional[str] = ..., pipeline_class: _Optional[str] = ..., device: _Optional[str] = ..., dtype: _Optional[str] = ..., schedulers: _Optional[_Iterable[str]] = ..., limits: _Optional[_Union[ImageLimits, _Mapping]] = ..., defaults: _Optional[_Union[ImageDefaults, _Mapping]] = ..., memory: _Optional[_Union[MemoryOptions, _Mapping]] = ..., batching: _Optional[_Union[BatchingSettings, _Mapping]] = ..., stats: _Optional[_Union[ImageStats, _Mapping]] = ..., safety_checker: _Optional[bool] = ..., modes: _Optional[_Iterable[_Union[ImageMode, str]]] = ...) -> None: ...
