"""Every part of transformers' continuous batching that is not public API, reached in one place.

Written for transformers 5.24.0, the version pyproject.toml pins: the manager's scheduler, queues, result
router, thread status and logits-processor hook, and the request state the sampler reads, are internals
that move between releases. When the pin moves, this module is what to check (the text engine tests
exercise every function here).
"""

from tokenizers import Tokenizer
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.generation.continuous_batching import ContinuousBatchingManager
from transformers.generation.continuous_batching.cb_logits_processors import (
    ContinuousBatchingLogitsProcessor,
    ContinuousBatchingLogitsProcessorList,
)
from transformers.generation.continuous_batching.continuous_api import BackgroundThreadStatus
from transformers.generation.continuous_batching.requests import FutureRequestState, RequestState
from transformers.generation.logits_process import LogitsProcessorList

WRITTEN_FOR = "5.24.0"


def attention_implementation(model: PreTrainedModel) -> str:
    return str(model.config._attn_implementation)


def rust_tokenizer(tokenizer: PreTrainedTokenizerBase) -> Tokenizer:
    """The `tokenizers` object behind a fast tokenizer, which streams detokenization (DecodeStream)."""
    return tokenizer._tokenizer


def install_logits_processor(manager: ContinuousBatchingManager, processor: ContinuousBatchingLogitsProcessor) -> None:
    """Makes ``processor`` the manager's only logits processor, fed one int32 tensor of per-row arguments."""
    processors = ContinuousBatchingLogitsProcessorList(LogitsProcessorList([processor]))
    processors.tensors_required = 1
    manager.logit_processor = processors


def request_counts(manager: ContinuousBatchingManager) -> tuple[int, int]:
    """Requests being decoded and requests waiting (in the scheduler or not yet picked up by it)."""
    processor = manager.batch_processor
    scheduler = processor.scheduler if processor is not None else None
    active = len(scheduler.active_requests) if scheduler is not None else 0
    waiting = len(scheduler.waiting_requests) if scheduler is not None else 0
    return active, waiting + manager.input_queue.qsize()


def forget_request(manager: ContinuousBatchingManager, manager_id: str) -> None:
    """Drops the manager's result handler of an ended request and any output it queued for nobody."""
    router = manager.output_router
    router.result_handlers.pop(manager_id, None)
    while not router.output_queue.empty():
        router.output_queue.get_nowait()


def generation_thread_died(manager: ContinuousBatchingManager) -> bool:
    """The generation thread hard-stops only when it died: Hearth never asks for a hard stop itself."""
    return manager.background_thread_status.local_status >= BackgroundThreadStatus.HARD_STOP


def fatal_error(manager: ContinuousBatchingManager) -> BaseException | None:
    return manager.background_thread_status.fatal_error


def request_state(future: FutureRequestState) -> RequestState:
    return future.state


def request_kwarg(state: RequestState, name: str, default: int) -> int:
    """A per-request logits-processor argument given to ``add_request``."""
    return int(state.logit_processor_kwargs.get(name, default))


def seen_tokens(state: RequestState) -> set[int]:
    """The prompt's and the generated tokens, for the repetition penalty."""
    return set(state.initial_tokens) | set(state.generated_tokens)
