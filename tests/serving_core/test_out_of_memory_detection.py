"""One function tells out-of-memory failures from other ones, whatever library words them."""

import pytest
import torch

from serving_core.out_of_memory import is_out_of_memory


@pytest.mark.parametrize(
    "failure",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
        RuntimeError("MPS backend out of memory (MPS allocated: 1.2 GB)"),
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: 4 GB"),
        MemoryError(),
        "CUDA out of memory while generating",
    ],
)
def test_allocator_failures_are_out_of_memory(failure: BaseException | str) -> None:
    assert is_out_of_memory(failure)


@pytest.mark.parametrize(
    "failure",
    [RuntimeError("shape mismatch"), ValueError("out of memory is not what a ValueError means"), "index out of range"],
)
def test_other_failures_are_not(failure: BaseException | str) -> None:
    assert not is_out_of_memory(failure)
