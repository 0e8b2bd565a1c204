"""What the engine and compose say about a stack, its secret values masked.

A secret override interpolated into `container_name`, a label, a published port or an
image tag comes back in every answer the engine gives about the stack's containers, and
in the lines and errors compose prints while it stops or removes them. The pages and
the API show those answers to viewers, who must never see a secret, so the answers
enter the services through here: `stack_workloads` (what runs) and the stack
operations mask them once, and no template or view has to. (A deploy's own output and
error are masked line by line by DeploymentOutput and the runner, with the same list.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from dockhand.masking import mask
from stacks import compose, engine
from stacks.models import GitStack
from stacks.services.deploy import stack_secrets

Answer = TypeVar("Answer", engine.ContainerInfo, engine.ServiceInfo)
# Digests the engine made up: no secret is in them, and a short secret that happens to
# be hex ("c0ffee") must not turn a container's id, which the pages link by, into stars.
_DIGESTS = frozenset({"id", "image_id", "config_hash"})


@dataclass(frozen=True)
class SecretMask:
    """A stack's secret values (`stack_secrets`), and the masking of each kind of answer."""

    secrets: tuple[str, ...]

    @classmethod
    def of(cls, stack: GitStack) -> SecretMask:
        return cls(tuple(stack_secrets(stack)))

    def text(self, text: str) -> str:
        return mask(text, self.secrets)

    def answer(self, found: Answer) -> Answer:
        """A container or swarm service with every text the engine gave masked: name,
        image, ports, labels read from it, a task's error."""
        changed: dict[str, object] = {}
        for field in dataclasses.fields(found):
            value = getattr(found, field.name)
            if field.name in _DIGESTS:
                continue
            if isinstance(value, str):
                changed[field.name] = self.text(value)
            elif isinstance(value, list):
                changed[field.name] = [self.text(v) if isinstance(v, str) else v for v in value]
        return dataclasses.replace(found, **changed)  # type: ignore[arg-type]

    @contextmanager
    def errors(self) -> Iterator[None]:
        """An engine or compose error raised inside, raised again with its message masked
        (compose quotes container names and interpolated values in its errors)."""
        try:
            yield
        except (engine.EngineError, compose.ComposeError) as exc:
            # `from None`: the unmasked original is not printed under it in a traceback.
            raise type(exc)(self.text(str(exc))) from None
