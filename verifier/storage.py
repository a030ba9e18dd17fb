"""What the desk software stores: its read-only inputs, and nothing per check.

``cityid verify`` reads the trusted issuer keys it is given and the proof, and writes
nothing: tests/test_privacy.py fails if verifying writes a file or opens a socket.
"""

from __future__ import annotations

from policies import StorageModel, StoredItem

STORAGE = StorageModel(
    party="Desk software",
    items=(
        StoredItem("trusted issuer keys", "the issuer's public keys (JWKS), given by the desk", personal_data=False),
    ),
    per_event="nothing: no log, no file, no network connection per check",
    source="verifier/cli.py (tests/test_privacy.py)",
)
