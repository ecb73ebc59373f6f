"""Choosing the device and dtype a model runs on. Imports torch: only the model services use it."""

import torch


def resolve_device(requested: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; anything else is taken as a torch device string."""
    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(requested: str, device: torch.device) -> torch.dtype:
    """``auto`` picks bf16 on GPUs that support it, else fp16 on GPUs, and fp32 on CPU.

    fp32 on CPU because fp16 matmuls are slow or missing there and bf16 is only fast on recent x86.
    """
    if requested != "auto":
        dtype = getattr(torch, requested, None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"dtype: unknown torch dtype {requested!r}")
        return dtype
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32
