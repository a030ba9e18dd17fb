"""What the issuer stores, read from its own tables for the privacy audit.

Each column declares ``info["personal"]``; a table holds personal data only while one of its
rows is a pending offer or grant (claims sealed under a code only the wallet has, deleted when
the batch is issued or the offer expires).
"""

from __future__ import annotations

from policies import StorageModel, StoredItem

from .models import Base

STORAGE = StorageModel(
    party="Issuer (the city)",
    items=tuple(
        StoredItem(
            what=table.name,
            contents=", ".join(str(column.info.get("description", column.name)) for column in table.columns),
            personal_data=any(column.info.get("personal", False) for column in table.columns),
        )
        for table in Base.metadata.sorted_tables
    ),
    per_event="per credential: a random status index, its expiry and batch; per resident: the hash of the "
    "revocation code; claims only while an offer is pending, sealed, and deleted at issuance",
    source="issuer/models.py",
)
