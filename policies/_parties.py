"""What each party stores: read from the code's own storage declarations, not from prose.

Each role package may have a ``storage`` module with a ``STORAGE`` :class:`StorageModel`
built from its real data models (the issuer's from its database tables, the wallet's from
its file format, the verifier's from its trust cache). The audit prints what is there and
says plainly when a role is not part of this build.
"""

from __future__ import annotations

import importlib
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


def software_parties() -> tuple[StorageModel, ...]:
    """The storage model of each role in this build."""
    models = []
    for role, title in ROLES:
        try:
            module = importlib.import_module(f"{role}.storage")
        except ModuleNotFoundError:
            models.append(StorageModel(title, (), "", f"{role}/ (no storage model yet)", built=False))
            continue
        model = module.STORAGE
        assert isinstance(model, StorageModel)
        models.append(model)
    return tuple(models)
