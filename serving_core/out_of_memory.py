"""Whether a failure means the device (or host) ran out of memory: the one place that reads such errors.

Out of memory is the request's size, not a crash: the service frees what the call held, refuses the request
with OUT_OF_MEMORY and keeps serving. Libraries report it in their own words, not one exception type:
torch raises ``torch.OutOfMemoryError`` ("CUDA out of memory", a RuntimeError) on CUDA, a RuntimeError that
says "MPS backend out of memory" on Apple GPUs and "DefaultCPUAllocator: can't allocate memory" on the CPU;
an engine thread may hand over only the message. No torch import here: every engine can use it.
"""

OUT_OF_MEMORY_WORDS = ("out of memory", "can't allocate memory")


def is_out_of_memory(error_or_message: BaseException | str) -> bool:
    """True for Python's MemoryError, or a RuntimeError or message in which an allocator says it ran out."""
    if isinstance(error_or_message, MemoryError):
        return True
    if isinstance(error_or_message, BaseException) and not isinstance(error_or_message, RuntimeError):
        return False
    text = str(error_or_message).lower()
    return any(words in text for words in OUT_OF_MEMORY_WORDS)
