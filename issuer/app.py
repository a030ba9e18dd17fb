"""The issuer's HTTP service: ``create_app(settings)`` builds it, nothing happens at import.

Public, cacheable and anonymous: issuer metadata, keys, status lists, the trust bundle.
Wallet-facing (OpenID4VCI): ``/token``, ``/credential``, ``/nonce`` and ``/notification``, all
resumable within the resume window (``issuer/service.py``); a background thread purges what
has expired even when no request comes. Clerk-facing: the desk pages
under ``/desk`` (``issuer/desk.py``); the resident's phone wallet under ``/wallet/``
(``issuer/phoneapp.py``). Errors are JSON with a stable ``reason``; bodies are
size-limited; every response carries the security headers (``issuer/headers.py``); logs carry
event names and counts only; a database that fails is a 503, and ``/readyz`` says whether
one would be (``issuer/health.py``). The OpenAPI document is at ``/openapi.json``; there is no
Swagger UI or ReDoc page, since both load scripts from a CDN onto the clerk pages' origin.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Form, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cityid.middleware import BodyLimit, SecurityHeaders

from . import service
from .admission import Admission
from .db import make_engine, sessions
from .desk import LANGUAGE_COOKIE, LOGIN_COOKIE, desk_router, signed_out_page
from .errors import IssuerError
from .headers import security_headers
from .health import RETRY_AFTER, error_summary, readiness, unavailable
from .keys import published_keys
from .phoneapp import phone_app_router
from .registry import published_registry
from .runtime import Runtime
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
    notification_id: str


class NotificationRequest(BaseModel):
    """OpenID4VCI 1.0 notification request: what the wallet did with one credential response."""

    model_config = ConfigDict(extra="forbid")
    notification_id: str = Field(min_length=1, max_length=64)
    event: str = Field(max_length=32)
    event_description: str | None = Field(default=None, max_length=1000)


class NonceResponse(BaseModel):
    c_nonce: str


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


def _bearer(authorization: str) -> str:
    """The access token in an ``Authorization: Bearer ...`` header; ``invalid_token`` without one."""
    scheme, _, access_token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not access_token.strip():
        raise IssuerError("invalid_token", "send the access token as 'Authorization: Bearer ...'", status=401,
                          error="invalid_token")  # fmt: skip
    return access_token.strip()


PURGE_EVERY = 30
"""Seconds between the served app's purges of offers and grants whose time is up."""


def _purging(runtime: Runtime) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: a daemon thread purges expired offers and grants every ``PURGE_EVERY``
    seconds (four times per window when the window is shorter), and is stopped with the app."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        every = max(1, min(PURGE_EVERY, runtime.settings.resume_window // 4))
        worker = threading.Thread(target=service.purge_until_stopped, args=(runtime.transaction, stop),
                                  kwargs={"every": every}, name="cityid-purge", daemon=True)  # fmt: skip
        worker.start()
        try:
            yield
        finally:
            stop.set()
            worker.join(5)

    return lifespan


def _transaction(request: Request) -> Iterator[Session]:
    """A session for routes that only read (``Runtime.reading``): writes commit inside the route,
    before the response is sent, so nothing acknowledged can be lost."""
    runtime: Runtime = request.app.state.runtime
    with runtime.reading() as session:
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
        lifespan=_purging(runtime),
    )
    app.state.runtime = runtime

    @app.exception_handler(IssuerError)
    async def issuer_error(request: Request, exc: IssuerError) -> Response:
        if request.url.path.startswith("/desk"):  # a person at a browser, not a wallet
            return signed_out_page(exc.message, exc.status, cookie=request.cookies.get(LOGIN_COOKIE),
                                   secure=settings.https, language=request.cookies.get(LANGUAGE_COOKIE))  # fmt: skip
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
            "nonce_endpoint": f"{settings.issuer_url}/nonce",
            "notification_endpoint": f"{settings.issuer_url}/notification",
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
        """Issue one credential per key proof, each bound to its own device key. A type already
        issued to this access token is issued again and the earlier batch revoked (resuming)."""
        now = int(time.time())
        # Committed before the response is sent: what the wallet is told it has, the database has.
        with runtime.transaction() as session:
            issued = service.issue_batch(
                session, settings, runtime.signing_key(session), _bearer(authorization),
                request_body.credential_configuration_id, request_body.proofs.jwt, now=now,
            )  # fmt: skip
        if issued.replaced:  # an earlier batch was revoked: the signed lists must show it
            runtime.status_cache.invalidate()
        body = CredentialResponse(credentials=[IssuedCredential(credential=c) for c in issued.credentials],
                                  c_nonce=issued.c_nonce, notification_id=issued.notification_id)  # fmt: skip
        return JSONResponse(body.model_dump(exclude_none=True), headers={"Cache-Control": "no-store"})

    @app.get("/status/{list_id}", tags=["status"], response_class=Response, responses={404: {"model": ErrorResponse}})
    def status_list(list_id: int) -> Response:
        """A signed status list (``statuslist+jwt``), the same for everybody: cache it."""
        if not 0 < list_id < 2**31:
            raise IssuerError("unknown_status_list", "no such status list", status=404)
        token = runtime.status_list(list_id, now=int(time.time()))
        if token is None:
            raise IssuerError("unknown_status_list", "no such status list", status=404)
        return Response(
            token,
            media_type="application/statuslist+jwt",
            headers={"Cache-Control": f"public, max-age={settings.status_list_ttl}"},
        )

    @app.get("/trust", tags=["trust"], response_class=Response)
    def trust() -> Response:
        """The signed trust bundle a desk caches: issuer keys, status list locations, policy registry."""
        return Response(
            runtime.trust(now=int(time.time())),
            media_type="application/jwt",
            headers={"Cache-Control": f"public, max-age={settings.status_list_ttl}"},
        )

    _add_registry(app, settings)
    _add_operations(app, runtime)
    _add_resumption(app, runtime)
    app.include_router(desk_router(runtime))
    app.include_router(phone_app_router())
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    # Outside BodyLimit: a request refused as overloaded is refused before its body is read.
    app.add_middleware(
        Admission, limit=settings.issuance_concurrency, queue=settings.issuance_queue, retry_after=RETRY_AFTER
    )
    app.add_middleware(
        SecurityHeaders, headers=security_headers(https=settings.https)
    )  # added last: outside BodyLimit, so 413s get them too
    return app


def _add_registry(app: FastAPI, settings: IssuerSettings) -> None:
    """``GET /registry``: the policy board's signed registry and public key (``issuer/registry.py``)."""

    @app.get("/registry", tags=["trust"], responses={404: {"model": ErrorResponse}})
    def policy_registry() -> JSONResponse:
        """The policy board's signed registry and the board's public key, as published with
        ``cityid issuer publish-registry``: what a wallet checks a desk's request against."""
        published = published_registry(settings.data)
        if published is None:
            raise IssuerError("no_registry", "this city's service has not published a list of approved policies yet",
                              status=404, error="not_found")  # fmt: skip
        return JSONResponse(published.to_json(),
                            headers={"Cache-Control": f"public, max-age={settings.status_list_ttl}"})  # fmt: skip


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


def _add_resumption(app: FastAPI, runtime: Runtime) -> None:
    """The nonce and notification endpoints: a resuming wallet's fresh nonce, and the wallet's
    word that it kept a type's credentials (once every type is kept, the grant is deleted)."""

    @app.post("/nonce", tags=["issuance"], response_model=NonceResponse)
    def nonce(authorization: Annotated[str, Header(max_length=300)] = "") -> JSONResponse:
        """A fresh ``c_nonce`` for the access token's next key proofs (a resuming wallet's is used up)."""
        with runtime.transaction() as session:
            c_nonce = service.fresh_nonce(session, _bearer(authorization), now=int(time.time()))
        return JSONResponse({"c_nonce": c_nonce}, headers={"Cache-Control": "no-store"})

    @app.post("/notification", tags=["issuance"], status_code=204, response_class=Response)
    def notification(
        body: Annotated[dict[str, Any], Body()], authorization: Annotated[str, Header(max_length=300)] = ""
    ) -> Response:
        """OpenID4VCI notification: the wallet kept (``credential_accepted``), failed to keep or
        deleted one credential response. Once every type is accepted, the grant is deleted."""
        access_token = _bearer(authorization)
        try:
            request_body = NotificationRequest.model_validate(body)
        except ValidationError:
            raise IssuerError("invalid_notification_request", "send notification_id and event (and optionally "
                              "event_description)", error="invalid_notification_request") from None  # fmt: skip
        with runtime.transaction() as session:
            service.notify(session, access_token, request_body.notification_id, request_body.event,
                           now=int(time.time()))  # fmt: skip
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
