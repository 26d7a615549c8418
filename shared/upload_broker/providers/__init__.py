"""Upstream providers, registered by name: VOD, ICE, Wangsu, and the next one.

A provider is one module here (``providers/<name>.py``) that declares everything the shared flows need
from its upstream, in the manner of requests' transport adapters (``BaseAdapter`` + ``Session.mount``) and
pyjwt's ``register_algorithm``:

- :meth:`Provider.client`: its upstream client, built once per instance, speaking the one call protocol
  :class:`UpstreamClient` (``call(action, params, *, credentials, budget, idempotent)``);
- :meth:`Provider.credentials`: which credentials a call carries (the server's, or none when the client
  holds its own keys);
- :meth:`Provider.expiration`: when the credential in an answer stops working;
- :meth:`Provider.not_found`: the one 404 for a resource that does not exist or is not the caller's,
  and for the upstream's own "not found".

Its operations (``Operation`` subclasses) live beside it. :func:`register_provider` refuses a second
provider of the same name; :func:`provider_named` imports ``providers/<name>.py`` on first use, so a
function only loads the provider it calls, and an operation naming a provider that no module registers
fails at import.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from upload_broker.errors import NotFound

if TYPE_CHECKING:
    from upload_broker.call import Call
    from upload_broker.config import Config, Credentials
    from upload_broker.retry import Budget


class UpstreamClient(Protocol):
    """The one call protocol every provider's client speaks; every failure is a ``BrokerError``."""

    def call(
        self, action: str, params: dict[str, Any], *, credentials: Credentials | None, budget: Budget,
        idempotent: bool,
    ) -> dict[str, Any]: ...


class Provider(ABC):
    """What the shared flows need to know about one upstream."""

    name: ClassVar[str]

    @abstractmethod
    def client(self, config: Config) -> UpstreamClient:
        """A new client for this upstream (the broker builds it once and reuses it)."""

    @abstractmethod
    def credentials(self, call: Call) -> Credentials | None:
        """The credentials ``call`` sends upstream."""

    @abstractmethod
    def expiration(self, response: dict[str, Any], now: float) -> str:
        """When the credential in ``response`` stops working, as ISO 8601 UTC."""

    @abstractmethod
    def not_found(self, kind: str, upstream_request_id: str | None = None) -> NotFound:
        """The 404 for a ``kind`` resource that is missing, not the caller's, or unknown upstream."""


_PROVIDERS: dict[str, Provider] = {}


def register_provider(provider: Provider) -> Provider:
    """Make ``provider`` known by its name; a second provider of the same name is refused."""
    if provider.name in _PROVIDERS:
        raise ValueError(f"a provider named {provider.name!r} is already registered")
    _PROVIDERS[provider.name] = provider
    return provider


def provider_named(name: str) -> Provider:
    """The provider registered as ``name``, importing ``upload_broker.providers.<name>`` on first use."""
    if name not in _PROVIDERS:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as missing:
            if missing.name != f"{__name__}.{name}":
                raise
    try:
        return _PROVIDERS[name]
    except KeyError:
        raise LookupError(f"no provider {name!r}: add providers/{name}.py that calls register_provider") from None
