"""What each role stores, for the privacy audit's "who stores what" table.

Only the application sees every role, so the roles' storage declarations are gathered here and
handed down to ``cityid policies audit`` (the policies package, below the roles, never imports
them). Each is built from the role's real data models: the issuer's database tables, the desk's
trust cache. The wallet has no storage model yet: the audit says so.
"""

from __future__ import annotations

from issuer.storage import STORAGE as ISSUER_STORAGE
from policies import StorageModel
from verifier.storage import STORAGE as DESK_STORAGE


def storage_models() -> tuple[StorageModel, ...]:
    """The storage model of every role that declares one."""
    return (ISSUER_STORAGE, DESK_STORAGE)
