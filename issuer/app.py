"""The issuer's HTTP service: ``create_app(settings)`` builds it, nothing happens at import.

Public, cacheable and anonymous: issuer metadata, keys, status lists, the trust bundle.
Wallet-facing (OpenID4VCI): ``/token`` and ``/credential``. Clerk-facing: the desk pages
under ``/desk`` (``issuer/desk.py``). Errors are JSON with a stable ``reason``; bodies are
size-limited; every response carries the security headers (``issuer/headers.py``); logs carry
event names and counts only; a database that fails is a 503, and ``/readyz`` says whether
one would be (``issuer/health.py``). The OpenAPI document is at ``/openapi.json``; there is no
Swagger UI or ReDoc page, since both load scripts from a CDN onto the clerk pages' origin.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cityid.middleware import BodyLimit, SecurityHeaders

from . import service
from .db import make_engine, sessions
from .desk import LOGIN_COOKIE, desk_router, signed_out_page
from .errors import IssuerError
from .headers import security_headers
from .health import RETRY_AFTER, error_summary, readiness, unavailable
from .keys import published_keys
from .runtime import Runtime, trust_bundle
from .settings import IssuerSettings

log = logging.getLogger("cityid.issuer")


class ProofsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jwt: list[str] = Field(min_length=1, max_length=100)


class CredentialRequest(BaseModel):
    """OpenID4VCI 1.0 credential request: one configuration, one key proof per device key."""

    model_config = ConfigDict(extra="ignore")
    credential_configuration_id: str = Field(max_length=64)
    proofs: ProofsBody


class IssuedCredential(BaseModel):
    credential: str


class CredentialResponse(BaseModel):
    credentials: list[IssuedCredential]
    c_nonce: str | None = None


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    c_nonce: str
    c_nonce_expires_in: int


class ErrorResponse(BaseModel):
    error: str
    error_description: str
    reason: str


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Refused, with a reason"},
    401: {"model": ErrorResponse, "description": "No valid access token"},
    413: {"model": ErrorResponse, "description": "Request body too large"},
}


def _error(status: int, error: str, reason: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": message, "reason": reason},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _transaction(request: Request) -> Iterator[Session]:
    """A transaction for routes that only read: writes commit inside the route, before the
    response is sent, so nothing acknowledged can be lost."""
    runtime: Runtime = request.app.state.runtime
    with runtime.transaction() as session:
        yield session


SessionDep = Annotated[Session, Depends(_transaction)]


def create_app(settings: IssuerSettings, *, passphrase: str | None = None, engine: Engine | None = None) -> FastAPI:
    """The issuer application for ``settings``; the database must be initialised already."""
    engine = engine or make_engine(settings.url)
    runtime = Runtime(settings, engine, sessions(engine), passphrase or settings.passphrase())
    app = FastAPI(
        title="cityid issuer",
        version="1",
        description="Issues minimal-disclosure SD-JWT VC credentials to residents' wallets (OpenID4VCI "
        "pre-authorized code flow) and publishes keys, status lists and the trust bundle.",
        responses=ERRORS,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime

    @app.exception_handler(IssuerError)
    async def issuer_error(request: Request, exc: IssuerError) -> Response:
        if request.url.path.startswith("/desk"):  # a person at a browser, not a wallet
            return signed_out_page(exc.message, exc.status, cookie=request.cookies.get(LOGIN_COOKIE),
                                   secure=settings.https)  # fmt: skip
        return _error(exc.status, exc.error, exc.reason, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = sorted({".".join(str(part) for part in error.get("loc", ())[1:]) for error in exc.errors()})
        return _error(400, "invalid_request", "invalid_request", f"malformed request: check {', '.join(fields)}")

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, exc: Exception) -> JSONResponse:
        log.error("internal_error type=%s", type(exc).__name__)
        response = _error(500, "server_error", "internal_error", "the issuer could not handle this request")
        response.headers.update(security_headers(https=settings.https))  # sent from outside the middleware
        return response

    @app.get("/.well-known/jwt-vc-issuer", tags=["metadata"])
    def jwt_vc_issuer(session: SessionDep) -> dict[str, Any]:
        """SD-JWT VC issuer metadata: the keys that verify this issuer's credentials."""
        return {"issuer": settings.issuer_url, "jwks": published_keys(session, now=int(time.time())).to_jwks()}

    @app.get("/.well-known/openid-credential-issuer", tags=["metadata"])
    def credential_issuer() -> dict[str, Any]:
        """OpenID4VCI credential issuer metadata."""
        return {
            "credential_issuer": settings.issuer_url,
            "credential_endpoint": f"{settings.issuer_url}/credential",
            "authorization_servers": [settings.issuer_url],
            "batch_credential_issuance": {"batch_size": settings.max_batch},
            "credential_configurations_supported": {
                name: {
                    "format": "dc+sd-jwt",
                    "vct": kind.vct,
                    "cryptographic_binding_methods_supported": ["jwk"],
                    "credential_signing_alg_values_supported": ["ES256"],
                    "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256", "EdDSA"]}},
                    "display": [{"name": kind.title, "locale": "en"}],
                }
                for name, kind in service.CONFIGURATIONS.items()
            },
        }

    @app.get("/.well-known/oauth-authorization-server", tags=["metadata"])
    def authorization_server() -> dict[str, Any]:
        return {
            "issuer": settings.issuer_url,
            "token_endpoint": f"{settings.issuer_url}/token",
            "grant_types_supported": [service.PRE_AUTHORIZED],
            "pre-authorized_grant_anonymous_access_supported": True,
        }

    @app.post("/token", tags=["issuance"], response_model=TokenResponse)
    def token(
        grant_type: Annotated[str, Form(max_length=100)],
        pre_authorized_code: Annotated[str, Form(alias="pre-authorized_code", max_length=200)],
        tx_code: Annotated[str, Form(max_length=32)] = "",
    ) -> JSONResponse:
        """Redeem a clerk's offer: the pre-authorized code and the PIN, for an access token."""
        if grant_type != service.PRE_AUTHORIZED:
            raise IssuerError(
                "unsupported_grant_type", "only the pre-authorized code grant", error="unsupported_grant_type"
            )
        issued = service.redeem_offer(runtime.transaction, settings, pre_authorized_code, tx_code, now=int(time.time()))
        body = TokenResponse(
            access_token=issued.access_token, expires_in=issued.expires_in, c_nonce=issued.c_nonce,
            c_nonce_expires_in=issued.expires_in,
        )  # fmt: skip
        return JSONResponse(body.model_dump(), headers={"Cache-Control": "no-store"})

    @app.post("/credential", tags=["issuance"], response_model=CredentialResponse)
    def credential(
        request_body: CredentialRequest, authorization: Annotated[str, Header(max_length=300)] = ""
    ) -> JSONResponse:
        """Issue one credential per key proof, each bound to its own device key."""
        scheme, _, access_token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not access_token:
            raise IssuerError("invalid_token", "send the access token as 'Authorization: Bearer ...'", status=401,
                              error="invalid_token")  # fmt: skip
        now = int(time.time())
        # Committed before the response is sent: what the wallet is told it has, the database has.
        with runtime.transaction() as session:
            issued = service.issue_batch(
                session, settings, runtime.signing_key(session), access_token.strip(),
                request_body.credential_configuration_id, request_body.proofs.jwt, now=now,
            )  # fmt: skip
        credentials = [IssuedCredential(credential=c) for c in issued.credentials]
        body = CredentialResponse(credentials=credentials, c_nonce=issued.c_nonce)
        return JSONResponse(body.model_dump(exclude_none=True), headers={"Cache-Control": "no-store"})

    @app.get("/status/{list_id}", tags=["status"], response_class=Response, responses={404: {"model": ErrorResponse}})
    def status_list(list_id: int, session: SessionDep) -> Response:
        """A signed status list (``statuslist+jwt``), the same for everybody: cache it."""
        if not 0 < list_id < 2**31:
            raise IssuerError("unknown_status_list", "no such status list", status=404)
        token = runtime.status_cache.token(
            session, list_id, key=runtime.signing_key(session), issuer_url=settings.issuer_url,
            ttl=settings.status_list_ttl, lifetime=settings.status_list_lifetime, now=int(time.time()),
        )  # fmt: skip
        if token is None:
            raise IssuerError("unknown_status_list", "no such status list", status=404)
        return Response(
            token,
            media_type="application/statuslist+jwt",
            headers={"Cache-Control": f"public, max-age={settings.status_list_ttl}"},
        )

    @app.get("/trust", tags=["trust"], response_class=Response)
    def trust(session: SessionDep) -> Response:
        """The signed trust bundle a desk caches: issuer keys, status list locations, policy registry."""
        return Response(
            trust_bundle(session, runtime, now=int(time.time())),
            media_type="application/jwt",
            headers={"Cache-Control": f"public, max-age={settings.status_list_ttl}"},
        )

    _add_operations(app, runtime)
    app.include_router(desk_router(runtime))
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(
        SecurityHeaders, headers=security_headers(https=settings.https)
    )  # added last: outside BodyLimit, so 413s get them too
    return app


def _unavailable(reason: str, message: str) -> JSONResponse:
    response = _error(503, "temporarily_unavailable", reason, message)
    response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


def _add_operations(app: FastAPI, runtime: Runtime) -> None:
    """Health endpoints, and database errors answered without leaking SQL (``issuer/health.py``)."""

    @app.exception_handler(SQLAlchemyError)
    async def database_error(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # Handled here, not by the catch-all ``Exception`` handler, which Starlette re-raises for the
        # server to log with a traceback: the statement and its parameters never reach a log.
        if not unavailable(exc):
            log.error("internal_error type=%s", error_summary(exc))
            return _error(500, "server_error", "internal_error", "the issuer could not handle this request")
        log.warning("service_unavailable type=%s", error_summary(exc))
        return _unavailable("service_unavailable", "the city's service is busy, try again")

    @app.get("/livez", tags=["operations"])
    def livez() -> dict[str, str]:
        """Liveness: the process answers (restart it when this fails, not when /readyz does)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: {"model": ErrorResponse}})
    @app.get("/healthz", tags=["operations"], responses={503: {"model": ErrorResponse}})
    def readyz() -> JSONResponse:
        """Readiness: the database answers and takes writes, the data directory is writable and
        the signing key opens. 503 with a ``reason`` when not (``/healthz`` is the old name)."""
        problem = readiness(runtime)
        if problem is not None:
            return _unavailable(problem.reason, problem.message)
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})
