"""The ledger interface and its records."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from upload_broker.errors import UpstreamUnavailable


class LedgerUnavailable(UpstreamUnavailable):
    """Raised when the ledger store cannot be read or written; no credential may be issued then."""

    default_message = "The broker's ledger is unavailable; no credential was issued. Retry shortly."


@dataclass(frozen=True)
class Resource:
    """One created upload: who owns it, what it is, and how often it was refreshed."""

    provider: str
    resource_id: str
    owner: str
    kind: str
    created_at: float
    refresh_count: int = 0


class Ledger(ABC):
    """Where ownership records live. Every method raises :class:`LedgerUnavailable` on a store failure."""

    @abstractmethod
    def record_creation(
        self,
        *,
        provider: str,
        resource_id: str,
        owner: str,
        kind: str,
        operation: str,
        request_id: str,
        upstream_request_id: str | None,
        at: float,
    ) -> None:
        """Record that ``owner`` created ``resource_id``; the first owner of an id keeps it."""

    @abstractmethod
    def find(self, provider: str, resource_id: str) -> Resource | None:
        """The record of ``resource_id``, or None if the broker never issued it."""

    @abstractmethod
    def record_refresh(self, *, provider: str, resource_id: str, at: float) -> None:
        """Count one more refresh of ``resource_id``."""

    def close(self) -> None:  # noqa: B027 - optional for backends without connections
        """Release the store's connections."""
