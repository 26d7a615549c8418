"""What an operation is, and one authorised request on its way through it.

Every operation (``functions/<op>/operation.py``) declares the whole contract: its function folder, route,
upstream provider and action, the kind of resource it issues and the upstream's name for its id, the request
fields a client may send, the fields that are the operator's, the field that declares an upload's size (or
``None``: the upstream takes none), and its cross-field check. Nothing is guessed and nothing defaults: a
declaration that forgets one of them does not load (``TypeError`` at import), and one that names a provider
no module registered, or a size field it does not take, stops the import with a message saying so.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from upload_broker.config import Config
from upload_broker.http import Answer, Request, Route
from upload_broker.retry import Budget
from upload_broker.validation import Field

if TYPE_CHECKING:
    from upload_broker.auth import Principal
    from upload_broker.runtime import Broker

# VOD and ICE IDs are 32 hexadecimal characters; anything far from that shape cannot exist upstream.
RESOURCE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass
class Call:
    """One authorised request on its way through an operation."""

    broker: Broker
    request: Request
    principal: Principal
    body: dict[str, Any]
    path_params: dict[str, str]
    request_id: str
    now: float = field(default_factory=time.time)
    budget: Budget | None = None

    @property
    def config(self) -> Config:
        return self.broker.config

    @property
    def user(self) -> str:
        return self.principal.sub

    def upstream_budget(self) -> Budget:
        """The request's one budget for every upstream attempt (tests pass a shorter one in)."""
        if self.budget is None:
            self.budget = Budget.of(self.config.upstream_budget_seconds)
        return self.budget


@dataclass(frozen=True, kw_only=True)
class Operation:
    """The contract every operation declares; :mod:`upload_broker.flows` runs it."""

    function: str
    action: str
    path: str
    provider: str
    kind: str
    id_field: str
    fields: tuple[Field, ...]
    operator_fields: tuple[str, ...]
    # The dotted request field that declares the upload's size in bytes ("FileSize", "FileInfo.Size"), for
    # BROKER_QUOTA_BYTES_PER_DAY; None: the upstream operation takes no size.
    size_field: str | None
    # Cross-field rules (an extension that must fit a type): gets and returns the upstream parameters.
    check: Callable[[dict[str, Any]], dict[str, Any]] | None

    def __post_init__(self) -> None:
        from upload_broker.providers import provider_named

        provider_named(self.provider)  # an unregistered provider stops the import here
        if self.size_field is not None:
            top = self.size_field.split(".", 1)[0]
            if top not in {spec.name for spec in self.fields}:
                raise TypeError(f"{self.function}: size_field {self.size_field!r} is not one of its fields")
        if not (self.kind and self.id_field and self.action and self.path.startswith("/")):
            raise TypeError(f"{self.function}: kind, id_field, action and an absolute path are required")

    @property
    def route(self) -> Route:
        return Route(self.path, ("POST",))

    @property
    def is_create(self) -> bool:
        return "{" not in self.path

    def run(self, call: Call) -> Answer:
        raise NotImplementedError
