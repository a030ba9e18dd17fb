"""Verifier policies: what each kind of desk may ask for, why, and what it may keep.

Recipes:

* **read** - :func:`parse_policy_text` (one file's content) or :func:`load_policies` (paths)
* **audit** - :func:`audit`, then :func:`render_json`, :func:`render_markdown` or :func:`render_html`
* **approve** - :func:`sign_registry` signs only policies without errors
* **enforce** - :func:`verify_registry`, then :func:`check_request` for each desk request
* **interoperate** - :func:`dcql_query`: a policy as an OpenID4VP 1.0 DCQL query

Everything but :func:`load_policies` is pure: time (``today``, ``now``) is an argument.
"""

from ._audit import AuditReport, LinkablePair, PolicyAudit, audit
from ._claims import CatalogueError, ClaimInfo, ClaimsCatalogue, Combination, Sensitivity, default_catalogue
from ._dcql import DcqlMappingError, dcql_query
from ._files import PolicyPathError, bundled_catalog, load_policies
from ._html import render_html
from ._model import WALLET_LANGUAGES, ClaimRequest, Finding, Policy, Retention, Severity, utc_day
from ._parties import RoleStorage, StorageModel, StoredItem
from ._registry import (
    REGISTRY_TYP,
    Registry,
    UnapprovedPoliciesError,
    check_request,
    sign_registry,
    verify_registry,
)
from ._report import render_json, render_markdown, verdict
from ._rules import LONGEST_STATUS_AGE, RULES, Rule, check_policy, check_set
from ._source import LoadedPolicy, parse_policy_text
from ._validate import build_policy, parse_duration

__all__ = [
    "LONGEST_STATUS_AGE",
    "REGISTRY_TYP",
    "RULES",
    "WALLET_LANGUAGES",
    "AuditReport",
    "CatalogueError",
    "ClaimInfo",
    "ClaimRequest",
    "ClaimsCatalogue",
    "Combination",
    "DcqlMappingError",
    "Finding",
    "LinkablePair",
    "LoadedPolicy",
    "Policy",
    "PolicyAudit",
    "PolicyPathError",
    "Registry",
    "Retention",
    "RoleStorage",
    "Rule",
    "Sensitivity",
    "Severity",
    "StorageModel",
    "StoredItem",
    "UnapprovedPoliciesError",
    "audit",
    "build_policy",
    "bundled_catalog",
    "check_policy",
    "check_request",
    "check_set",
    "dcql_query",
    "default_catalogue",
    "load_policies",
    "parse_duration",
    "parse_policy_text",
    "render_html",
    "render_json",
    "render_markdown",
    "sign_registry",
    "utc_day",
    "verdict",
    "verify_registry",
]
