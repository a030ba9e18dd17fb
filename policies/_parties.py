"""What each party stores: read from the code's own storage declarations, not from prose.

Each role package has a ``storage`` module with a ``STORAGE`` :class:`StorageModel` built from
its real data models (the issuer's from its database tables, the wallet's from its file format,
the verifier's from its trust cache). This package sits below the roles and never imports them:
the application above hands their models to the audit (``cityid/parties.py``), and the audit
says plainly when a role is not part of what it was given.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

ROLES = (("issuer", "Issuer (the city)"), ("wallet", "Wallet (the resident's device)"), ("verifier", "Desk software"))


@dataclass(frozen=True, slots=True)
class StoredItem:
    what: str
    contents: str
    personal_data: bool


@dataclass(frozen=True, slots=True)
class StorageModel:
    """What one party keeps, where it is declared, and what it keeps per check or visit."""

    party: str
    items: tuple[StoredItem, ...]
    per_event: str
    source: str
    built: bool = True


def software_parties(models: Collection[StorageModel] = ()) -> tuple[StorageModel, ...]:
    """Each role's storage model from ``models``, in the audit's order (issuer, wallet, desk); a
    role whose model is not among them is shown as not built: it has no storage model yet."""
    given = {model.party: model for model in models}
    return tuple(
        given.get(title) or StorageModel(title, (), "", f"{role}/ (no storage model yet)", built=False)
        for role, title in ROLES
    )


@dataclass(frozen=True, slots=True)
class RoleStorage:
    """How the application running the policy commands reaches the roles' storage models: the
    ``cityid`` command puts one in the command line's context, and ``cityid policies audit``
    calls ``models`` only when it builds a report (loading a role's models loads that role)."""

    models: Callable[[], Collection[StorageModel]]
