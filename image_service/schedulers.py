"""Schedulers by name, as AUTOMATIC1111 and ComfyUI users know them, built from the pipeline's own config.

Schedulers carry per-call state (timesteps, step index, multistep history), so every pipeline call gets a
fresh instance from ``from_config`` of the config the pipeline was loaded with; nothing shared is mutated.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    KDPM2AncestralDiscreteScheduler,
    KDPM2DiscreteScheduler,
    LCMScheduler,
    PNDMScheduler,
    UniPCMultistepScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from serving_core.request_errors import InvalidField


@dataclass(frozen=True)
class SchedulerKind:
    """One named scheduler: its diffusers class, config overrides and the label A1111 prints."""

    name: str
    label: str
    scheduler_class: type[SchedulerMixin]
    overrides: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


KNOWN_SCHEDULERS = (
    SchedulerKind("euler", "Euler", EulerDiscreteScheduler),
    SchedulerKind("euler_a", "Euler a", EulerAncestralDiscreteScheduler, aliases=("euler_ancestral",)),
    SchedulerKind("heun", "Heun", HeunDiscreteScheduler),
    SchedulerKind("dpm2", "DPM2", KDPM2DiscreteScheduler, aliases=("dpm_2",)),
    SchedulerKind("dpm2_a", "DPM2 a", KDPM2AncestralDiscreteScheduler, aliases=("dpm_2_a", "dpm2_ancestral")),
    SchedulerKind("dpmpp_2m", "DPM++ 2M", DPMSolverMultistepScheduler),
    SchedulerKind(
        "dpmpp_2m_karras", "DPM++ 2M Karras", DPMSolverMultistepScheduler, overrides={"use_karras_sigmas": True}
    ),
    SchedulerKind("ddim", "DDIM", DDIMScheduler),
    SchedulerKind("pndm", "PNDM", PNDMScheduler, aliases=("plms",)),
    SchedulerKind("unipc", "UniPC", UniPCMultistepScheduler),
    SchedulerKind("lcm", "LCM", LCMScheduler),
)
LCM_SCHEDULER = "lcm"


def normalize_name(name: str) -> str:
    """Folds the spellings users type into one key: "DPM++ 2M Karras", "k_dpmpp_2m_karras" -> dpmpp_2m_karras."""
    key = name.strip().lower().replace("++", "pp")
    key = re.sub(r"[\s\-.]+", "_", key)
    return key.removeprefix("k_")


class SchedulerCatalog:
    """The scheduler names a pipeline accepts, and fresh scheduler instances for them."""

    def __init__(self, base_scheduler: SchedulerMixin) -> None:
        self._base_config = base_scheduler.config
        base_class = type(base_scheduler)
        plain = (kind for kind in KNOWN_SCHEDULERS if kind.scheduler_class is base_class and not kind.overrides)
        own = next(plain, None)
        if own is None:
            own = SchedulerKind(base_class.__name__, base_class.__name__, base_class)
        self.default_name = own.name
        self._kinds = {kind.name: kind for kind in (*KNOWN_SCHEDULERS, own)}
        self._lookup: dict[str, str] = {}
        for kind in self._kinds.values():
            for spelling in (kind.name, kind.label, *kind.aliases):
                self._lookup[normalize_name(spelling)] = kind.name
            self._lookup.setdefault(normalize_name(kind.scheduler_class.__name__), kind.name)

    @property
    def names(self) -> list[str]:
        """Canonical names, in the order they are listed to clients."""
        return list(self._kinds)

    def resolve(self, requested: str) -> str:
        """The canonical name for a requested one ("" means the pipeline's own), or InvalidField listing names."""
        if not requested.strip():
            return self.default_name
        name = self._lookup.get(normalize_name(requested))
        if name is None:
            raise InvalidField("scheduler", f"unknown scheduler {requested!r}; valid: {', '.join(self.names)}")
        return name

    def label(self, name: str) -> str:
        """The A1111-style label written into image metadata, e.g. "Euler a"."""
        return self._kinds[name].label

    def create(self, name: str) -> SchedulerMixin:
        """A fresh scheduler instance for one pipeline call."""
        kind = self._kinds[name]
        return kind.scheduler_class.from_config(self._base_config, **kind.overrides)
