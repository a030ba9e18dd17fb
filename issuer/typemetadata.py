"""SD-JWT VC Type Metadata: each credential type's document, served at its https ``vct``.

A type's ``vct`` is ``settings.type_base_url`` + ``/<type>/<version>`` (``/types/residency/1``
by default), and a wallet of another maker may GET it to learn what the card is called and what
each claim means, in every language the city serves. The document is a pure function of the
release: the type's claims (``credential/``), the card names and claim labels of
``edges/words.py`` in each gettext catalog, and the English claim descriptions of
``policies/claims.toml``. Every claim is selectively disclosable, so every claim says
``sd: always``. The document is made once, always the same way, and served as made: its bytes
are what each credential's ``vct#integrity`` hashes (W3C SRI, ``sha256-<base64>``), so a wallet
that checks the hash may keep the document for good.

Also served here: the SD-JWT VC issuer metadata at its well-known URL when the issuer URL has a
path (``https://host/.well-known/jwt-vc-issuer/<path>``: the well-known part goes between the
host and the path, and a proxy in front of the issuer sends that URL on as it is).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from credential import ADDRESS_FIELDS, CREDENTIAL_TYPES, ClaimKind, CredentialType, TypeReference
from edges.i18n import LANGUAGES, translator
from edges.words import card_name, claim_label
from policies import default_catalogue

from .keys import published_keys
from .settings import IssuerSettings

TYPE_METADATA_MAX_AGE = 86_400
"""Seconds a Type Metadata document may be cached without its hash: it changes only with a release."""


class PublishedType(NamedTuple):
    """One credential type as published: its ``vct``, its document's exact bytes and their hash."""

    kind: CredentialType
    vct: str
    document: bytes
    integrity: str

    @property
    def reference(self) -> TypeReference:
        """What issuance writes into each credential (``vct`` and ``vct#integrity``)."""
        return TypeReference(self.vct, self.integrity)


def display_name(language: str, kind: CredentialType) -> str:
    """The card's name in ``language``, as a wallet shows it (shared with the issuer metadata)."""
    return card_name(translator(language), kind.name)


def _claim_display(name: str, description: str | None) -> list[dict[str, str]]:
    entries = []
    for language in LANGUAGES:
        entry = {"locale": language, "label": claim_label(translator(language), name)}
        if language == "en" and description:
            entry["description"] = description  # claims.toml is English only
        entries.append(entry)
    return entries


def type_metadata(kind: CredentialType, vct: str) -> dict[str, Any]:
    """The Type Metadata document of ``kind`` published at ``vct`` (SD-JWT VC, section 6)."""
    catalogue = default_catalogue().claims
    claims: list[dict[str, Any]] = []
    for name, claim_kind in kind.claims.items():
        info = catalogue.get(name)
        claims.append({"path": [name], "display": _claim_display(name, info.description if info else None),
                       "mandatory": True, "sd": "always"})  # fmt: skip
        if claim_kind is ClaimKind.ADDRESS:  # each member is its own disclosure too
            claims += ({"path": [name, field], "mandatory": True, "sd": "always"} for field in ADDRESS_FIELDS)
    return {
        "vct": vct,
        "name": display_name("en", kind),
        "description": f"A {display_name('en', kind)}, issued by the city: a fixed set of claims, each one "
        "disclosed only when the resident agrees.",
        "display": [{"locale": language, "name": display_name(language, kind)} for language in LANGUAGES],
        "claims": claims,
    }


def document_bytes(document: Mapping[str, Any]) -> bytes:
    """The exact bytes served and hashed: compact UTF-8 JSON, in the document's own order."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def integrity(data: bytes) -> str:
    """The W3C SRI integrity metadata of ``data`` (``sha256-<base64>``), as ``vct#integrity`` holds it."""
    return "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


@cache
def published_types(type_base_url: str) -> Mapping[str, PublishedType]:
    """Every cityid type published under ``type_base_url``, by type name (made once per base)."""
    published = {}
    for name, kind in CREDENTIAL_TYPES.items():
        vct = kind.published_vct(type_base_url)
        body = document_bytes(type_metadata(kind, vct))
        published[name] = PublishedType(kind, vct, body, integrity(body))
    return published


def type_reference(settings: IssuerSettings, kind: CredentialType) -> TypeReference:
    """The ``vct`` and ``vct#integrity`` this issuer writes into a credential of ``kind``."""
    return published_types(settings.type_base_url)[kind.name].reference


def type_integrities(settings: IssuerSettings) -> dict[str, str]:
    """Each published ``vct`` and its ``vct#integrity``: in the trust bundle and the SD-JWT VC
    issuer metadata, so that a verifier can put back what a ``CID2:`` proof leaves out."""
    return {published.vct: published.integrity for published in published_types(settings.type_base_url).values()}


def jwt_vc_issuer_path(issuer_url: str) -> str | None:
    """Where the SD-JWT VC issuer metadata of an issuer URL with a path lives on its host
    (``/.well-known/jwt-vc-issuer/<path>``); None for an issuer URL without a path."""
    path = urlsplit(issuer_url).path.rstrip("/")
    return f"/.well-known/jwt-vc-issuer{path}" if path else None


def type_metadata_router(settings: IssuerSettings) -> APIRouter:
    """``GET`` each type's document at its ``vct`` (its path under the issuer URL), and the
    issuer metadata at the path form of its well-known URL when the issuer URL has a path.
    Refuses to start (``SettingsError``) when ``CITYID_VCT_BASE_URL`` is not under the issuer URL."""
    router = APIRouter(tags=["metadata"])
    issuer_url = settings.issuer_url
    for published in published_types(settings.type_base_url).values():
        router.add_api_route(published.vct.removeprefix(issuer_url), _serve(published), methods=["GET"],
                             response_class=Response, name=f"type_metadata_{published.kind.name}",
                             summary=f"SD-JWT VC Type Metadata of the {published.kind.name} credential")  # fmt: skip
    well_known = jwt_vc_issuer_path(issuer_url)
    if well_known is not None:

        @router.get(well_known, name="jwt_vc_issuer_with_path")
        def jwt_vc_issuer_with_path(request: Request) -> JSONResponse:
            """SD-JWT VC issuer metadata, where a client looks for it when the issuer URL has a path."""
            with request.app.state.runtime.reading() as session:
                jwks = published_keys(session, now=int(time.time())).to_jwks()
            return JSONResponse({"issuer": issuer_url, "jwks": jwks},
                                headers={"Cache-Control": f"public, max-age={settings.status_list_ttl}"})  # fmt: skip

    return router


def _serve(published: PublishedType) -> Callable[[], Response]:
    def type_document() -> Response:
        return Response(published.document, media_type="application/json",
                        headers={"Cache-Control": f"public, max-age={TYPE_METADATA_MAX_AGE}"})  # fmt: skip

    return type_document
