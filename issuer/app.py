"""The issuer's HTTP service: ``create_app(settings)`` builds it, nothing happens at import.

Public, cacheable and anonymous: issuer metadata, keys, status lists, the trust bundle.
Wallet-facing (OpenID4VCI 1.0): ``/token``, ``/credential``, ``/nonce`` and ``/notification``,
all resumable within the resume window (``issuer/service.py``), with DPoP when the wallet sends
it (``issuer/dpop.py``), and open to browser wallets on other origins (``issuer/cors.py``); a
background thread purges what has expired even when no request comes. Clerk-facing: the desk pages
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

from edges.middleware import BodyLimit, SecurityHeaders

from . import service
from .admission import Admission
from .cors import WalletCors
from .db import make_engine, sessions
from .desk import LANGUAGE_COOKIE, LOGIN_COOKIE, desk_router, signed_out_page
from .dpop import DPOP_ALGORITHMS, DPOP_WINDOW, check_dpop_proof
from .errors import IssuerError
from .headers import security_headers
from .health import RETRY_AFTER, error_summary, readiness, unavailable
from .keys import published_keys
from .metadata import authorization_server_metadata, credential_issuer_metadata
from .onetime import DPOP_JTI_PURPOSE, first_use, new_nonce
from .phoneapp import phone_app_router
from .registry import published_registry
from .runtime import Runtime
from .settings import IssuerSettings
from .typemetadata import type_integrities, type_metadata_router

log = logging.getLogger("cityid.issuer")


class ProofsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jwt: list[str] = Field(min_length=1, max_length=100)


class LegacyProof(BaseModel):
    """The one ``proof`` of wallets older than OpenID4VCI 1.0 (drafts up to 14)."""

    model_config = ConfigDict(extra="ignore")
    proof_type: str = Field(max_length=32)
    jwt: str = Field(max_length=8192)


class CredentialRequest(BaseModel):
    """OpenID4VCI 1.0 credential request: one configuration, one key proof per device key
    (``proofs``), or one legacy ``proof``."""

    model_config = ConfigDict(extra="ignore")
    credential_configuration_id: str = Field(max_length=64)
    proofs: ProofsBody | None = None
    proof: LegacyProof | None = None

    def key_proofs(self) -> list[str]:
        """The key proof JWTs, from whichever form was sent; ``invalid_proof`` when none or both."""
        if self.proofs is not None and self.proof is None:
            return self.proofs.jwt
        if self.proof is not None and self.proofs is None and self.proof.proof_type == "jwt":
            return [self.proof.jwt]
        raise IssuerError("invalid_proof", "send the key proofs as proofs: {jwt: [...]} (or one legacy proof of "
                          "proof_type jwt), not both", error="invalid_proof")  # fmt: skip


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
    """The access token in an ``Authorization: Bearer ...`` or ``DPoP ...`` header; ``invalid_token`` without one."""
    scheme, _, access_token = authorization.partition(" ")
    if scheme.lower() not in ("bearer", "dpop") or not access_token.strip():
        raise IssuerError("invalid_token", "send the access token as 'Authorization: Bearer ...' (or 'DPoP ...')",
                          status=401, error="invalid_token")  # fmt: skip
    return access_token.strip()


def _challenge(exc: IssuerError, authorization: str, *, dpop: bool) -> str:
    """The ``WWW-Authenticate`` of a 401 (RFC 6750 §3, RFC 9449 §7.1): the scheme the wallet
    should use, and the error."""
    description = exc.message.replace("\\", "").replace('"', "'")
    scheme = "DPoP" if dpop or authorization.lower().startswith("dpop ") else "Bearer"
    algorithms = f', algs="{" ".join(sorted(DPOP_ALGORITHMS))}"' if scheme == "DPoP" else ""
    return f'{scheme} error="{exc.error}", error_description="{description}"{algorithms}'


def _dpop_key(runtime: Runtime, proof: str, *, path: str, now: int, access_token: str | None = None) -> str | None:
    """The DPoP key thumbprint a request proves (None without a ``DPoP`` header); a bad or
    replayed proof is refused (``invalid_dpop_proof``: 400 at ``/token``, 401 elsewhere)."""
    if not proof:
        return None
    status = 400 if access_token is None else 401
    try:
        checked = check_dpop_proof(proof, method="POST", url=runtime.settings.issuer_url + path, now=now,
                                   access_token=access_token)  # fmt: skip
    except IssuerError as exc:
        raise IssuerError(exc.reason, exc.message, status=status, error=exc.error) from None
    with runtime.transaction() as session:
        if not first_use(session, checked.jti, DPOP_JTI_PURPOSE, until=now + 2 * DPOP_WINDOW):
            raise IssuerError("invalid_dpop_proof", "this DPoP proof was already used: make a new one for each request",
                              status=status, error="invalid_dpop_proof")  # fmt: skip
    return checked.jkt


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
        response = _error(exc.status, exc.error, exc.reason, exc.message)
        if exc.status == 401:
            authorization = request.headers.get("authorization", "")
            response.headers["WWW-Authenticate"] = _challenge(exc, authorization, dpop=settings.require_dpop)
        return response

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

    _add_metadata(app, settings)
    _add_issuance(app, runtime)
    _add_public(app, runtime)
    _add_registry(app, settings)
    _add_operations(app, runtime)
    _add_resumption(app, runtime)
    app.include_router(desk_router(runtime))
    app.include_router(phone_app_router())
    app.include_router(type_metadata_router(settings))
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    # Outside BodyLimit: a request refused as overloaded is refused before its body is read.
    app.add_middleware(
        Admission, limit=settings.issuance_concurrency, queue=settings.issuance_queue, retry_after=RETRY_AFTER
    )
    app.add_middleware(
        SecurityHeaders, headers=security_headers(https=settings.https)
    )  # outside BodyLimit, so 413s get them too
    app.add_middleware(WalletCors)  # outermost: a preflight is answered before anything else
    return app


def _add_metadata(app: FastAPI, settings: IssuerSettings) -> None:
    """The well-known metadata: SD-JWT VC issuer keys, OpenID4VCI issuer, OAuth server."""

    @app.get("/.well-known/jwt-vc-issuer", tags=["metadata"])
    def jwt_vc_issuer(session: SessionDep) -> JSONResponse:
        """SD-JWT VC issuer metadata: the keys that verify this issuer's credentials, and (a cityid
        member) each type's ``vct#integrity``, which ``cityid verify`` puts back into ``CID2:`` proofs."""
        body = {
            "issuer": settings.issuer_url,
            "jwks": published_keys(session, now=int(time.time())).to_jwks(),
            "type_integrity": type_integrities(settings),
        }
        return JSONResponse(body, headers={"Cache-Control": f"public, max-age={settings.status_list_ttl}"})

    @app.get("/.well-known/openid-credential-issuer", tags=["metadata"])
    def credential_issuer() -> dict[str, Any]:
        """OpenID4VCI 1.0 credential issuer metadata (``issuer/metadata.py``)."""
        return credential_issuer_metadata(settings)

    @app.get("/.well-known/oauth-authorization-server", tags=["metadata"])
    def authorization_server() -> dict[str, Any]:
        """OAuth 2.0 authorization server metadata (RFC 8414) for the pre-authorized code grant."""
        return authorization_server_metadata(settings)


def _add_issuance(app: FastAPI, runtime: Runtime) -> None:
    """OpenID4VCI's ``/token`` and ``/credential``."""
    settings = runtime.settings

    @app.post("/token", tags=["issuance"], response_model=TokenResponse)
    def token(
        grant_type: Annotated[str, Form(max_length=100)],
        pre_authorized_code: Annotated[str, Form(alias="pre-authorized_code", max_length=200)],
        tx_code: Annotated[str, Form(max_length=32)] = "",
        dpop: Annotated[str, Header(max_length=4096)] = "",
    ) -> JSONResponse:
        """Redeem a clerk's offer: the pre-authorized code and the PIN, for an access token
        (bound to the wallet's DPoP key when it sends a ``DPoP`` proof)."""
        if grant_type != service.PRE_AUTHORIZED:
            raise IssuerError(
                "unsupported_grant_type", "only the pre-authorized code grant", error="unsupported_grant_type"
            )
        now = int(time.time())
        if settings.require_dpop and not dpop:
            raise IssuerError("invalid_dpop_proof", "this issuer binds access tokens to a key: send a DPoP proof "
                              "(RFC 9449)", error="invalid_dpop_proof")  # fmt: skip
        jkt = _dpop_key(runtime, dpop, path="/token", now=now)
        issued = service.redeem_offer(runtime.transaction, settings, pre_authorized_code, tx_code, now=now,
                                      dpop_jkt=jkt)  # fmt: skip
        body = TokenResponse(
            access_token=issued.access_token, token_type="DPoP" if jkt else "Bearer", expires_in=issued.expires_in,
            c_nonce=issued.c_nonce, c_nonce_expires_in=issued.expires_in,
        )  # fmt: skip
        return JSONResponse(body.model_dump(), headers={"Cache-Control": "no-store"})

    @app.post("/credential", tags=["issuance"], response_model=CredentialResponse)
    def credential(
        request_body: CredentialRequest,
        authorization: Annotated[str, Header(max_length=300)] = "",
        dpop: Annotated[str, Header(max_length=4096)] = "",
    ) -> JSONResponse:
        """Issue one credential per key proof, each bound to its own device key. A type already
        issued to this access token is issued again and the earlier batch revoked (resuming)."""
        now = int(time.time())
        access_token = _bearer(authorization)
        proofs = request_body.key_proofs()
        jkt = _dpop_key(runtime, dpop, path="/credential", now=now, access_token=access_token)
        # Committed before the response is sent: what the wallet is told it has, the database has.
        with runtime.transaction() as session:
            issued = service.issue_batch(
                session, settings, runtime.signing_key(session), access_token,
                request_body.credential_configuration_id, proofs, now=now, dpop_jkt=jkt,
            )  # fmt: skip
        if issued.replaced:  # an earlier batch was revoked: the signed lists must show it
            runtime.status_cache.invalidate()
        body = CredentialResponse(credentials=[IssuedCredential(credential=c) for c in issued.credentials],
                                  c_nonce=issued.c_nonce, notification_id=issued.notification_id)  # fmt: skip
        return JSONResponse(body.model_dump(exclude_none=True), headers={"Cache-Control": "no-store"})


def _add_public(app: FastAPI, runtime: Runtime) -> None:
    """Status lists and the trust bundle: the same for everybody, cacheable."""
    settings = runtime.settings

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
    def nonce(
        authorization: Annotated[str, Header(max_length=300)] = "",
        dpop: Annotated[str, Header(max_length=4096)] = "",
    ) -> JSONResponse:
        """OpenID4VCI 1.0 Nonce Endpoint: a fresh ``c_nonce`` for the next key proofs, usable once.
        Called with an access token (as cityid's wallets do when resuming), the grant's nonce is renewed."""
        now = int(time.time())
        if not authorization:
            with runtime.transaction() as session:
                c_nonce = new_nonce(session, now=now)
        else:
            access_token = _bearer(authorization)
            jkt = _dpop_key(runtime, dpop, path="/nonce", now=now, access_token=access_token)
            with runtime.transaction() as session:
                c_nonce = service.fresh_nonce(session, access_token, now=now, dpop_jkt=jkt)
        return JSONResponse({"c_nonce": c_nonce}, headers={"Cache-Control": "no-store"})

    @app.post("/notification", tags=["issuance"], status_code=204, response_class=Response)
    def notification(
        body: Annotated[dict[str, Any], Body()],
        authorization: Annotated[str, Header(max_length=300)] = "",
        dpop: Annotated[str, Header(max_length=4096)] = "",
    ) -> Response:
        """OpenID4VCI notification: the wallet kept (``credential_accepted``), failed to keep or
        deleted one credential response. Once every type is accepted, the grant is deleted."""
        now = int(time.time())
        access_token = _bearer(authorization)
        jkt = _dpop_key(runtime, dpop, path="/notification", now=now, access_token=access_token)
        try:
            request_body = NotificationRequest.model_validate(body)
        except ValidationError:
            raise IssuerError("invalid_notification_request", "send notification_id and event (and optionally "
                              "event_description)", error="invalid_notification_request") from None  # fmt: skip
        with runtime.transaction() as session:
            service.notify(session, access_token, request_body.notification_id, request_body.event, now=now,
                           dpop_jkt=jkt)  # fmt: skip
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
