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
from typing import TYPE_CHECKING, Any, Protocol

from upload_broker.config import Config
from upload_broker.http import Answer, Endpoint, Request, Route
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


class Function(Protocol):
    """What a function folder's ``operation.py`` declares: its folder, its route, and how a broker serves it
    (:meth:`bind`). Every :class:`Operation` is one; so are the functions that call no upstream (a user's
    uploads, VOD's callbacks)."""

    @property
    def function(self) -> str: ...

    @property
    def route(self) -> Route: ...

    def bind(self, broker: Broker) -> Endpoint: ...


class Authenticated(Protocol):
    """A function served behind the bearer token: :class:`~upload_broker.runtime.BoundOperation` checks the
    token, then calls :meth:`run`. ``action`` names it in the audit trail; ``id_field`` is the path parameter
    naming its resource, if any."""

    @property
    def action(self) -> str: ...

    @property
    def id_field(self) -> str | None: ...

    @property
    def route(self) -> Route: ...

    def run(self, call: Call) -> Answer: ...


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

    def bind(self, broker: Broker) -> Endpoint:
        from upload_broker.runtime import BoundOperation

        return BoundOperation(self, broker)


@dataclass(frozen=True, kw_only=True)
class SourceCheck:
    """How a refresh asks its upstream whether the upload's source file is already in, before it refreshes
    (a refresh hands out a credential that overwrites that file).

    Every status the upstream documents is declared as either ``unfinished`` (the source is not in yet: a
    refresh resumes or retries the upload) or ``finished`` (the upstream holds the source). A status in
    neither set - one the upstream added later - counts as finished and is logged: the broker never
    overwrites a source on a guess.
    """

    action: str  # the upstream's read operation ("GetVideoInfo")
    id_param: str  # its parameter naming the resource ("VideoId")
    status_path: tuple[str, ...]  # where the status is in its answer (("Video", "Status"))
    unfinished: frozenset[str]
    finished: frozenset[str]

    def __post_init__(self) -> None:
        if not (self.unfinished and self.finished) or self.unfinished & self.finished:
            raise TypeError(f"{self.action}: unfinished and finished statuses must be given and disjoint")
        if not self.status_path:
            raise TypeError(f"{self.action}: status_path is required")

    def status_of(self, answer: dict[str, Any]) -> str | None:
        """The status in the upstream's answer, or None when the answer carries none."""
        value: Any = answer
        for key in self.status_path:
            value = value.get(key) if isinstance(value, dict) else None
        return value if isinstance(value, str) and value else None
