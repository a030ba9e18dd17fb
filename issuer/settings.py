"""The issuer's settings, read once from the environment and the command line.

Every variable is listed in docs/operations.md. The passphrase that seals the signing keys
comes from ``CITYID_ISSUER_PASSPHRASE`` or from the file named by
``CITYID_ISSUER_PASSPHRASE_FILE`` (a mounted secret); placeholders and short ones are refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from edges.files import write_atomic
from policies import LONGEST_STATUS_AGE

PLACEHOLDERS = {"changeme", "change-me", "password", "passphrase", "secret", "example", "test"}
MIN_PASSPHRASE = 12


class SettingsError(Exception):
    """A setting is missing or unacceptable; the message says which and what to do."""


class IssuerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYID_", extra="ignore", populate_by_name=True)

    data: Path = Field(default=Path("issuer-data"), validation_alias="CITYID_ISSUER_DATA")
    database_url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///DATA/issuer.db``."""
    issuer_url: str = Field(default="http://127.0.0.1:8400", validation_alias="CITYID_ISSUER_URL")
    """The public base URL: the credentials' ``iss``, the status lists' and offers' prefix."""
    vct_base_url: str | None = None
    """Where the credential types' Type Metadata is served, a URL under ``issuer_url``; each type's
    ``vct`` is ``BASE/<type>/<version>``. Default ``ISSUER_URL/types`` (:attr:`type_base_url`)."""
    city: str = Field(default="Riverton", validation_alias="CITYID_CITY")
    issuer_passphrase: SecretStr | None = None
    issuer_passphrase_file: Path | None = None
    offer_lifetime: int = 900
    """Seconds a clerk's offer can be redeemed."""
    resume_window: int = 900
    """Seconds a redeemed offer can be resumed (``/token`` again, a fresh batch): an interrupted
    wallet finishes within it; then the grant and its sealed claims are deleted."""
    pin_attempts: int = 5
    max_batch: int = 20
    status_list_size: int = 2**20
    """Entries in each shared status list (one bit each: 128 kB)."""
    status_list_ttl: int = 300
    status_list_lifetime: int = LONGEST_STATUS_AGE
    """Seconds a signed status list stays valid (its ``exp``): as long as the longest
    ``max_status_age`` a policy may have, or a desk would refuse the list before that policy does."""
    max_request_bytes: int = 256 * 1024
    issuance_concurrency: int = Field(default=8, ge=1)
    """Issuance requests (``/token``, ``/credential``, ``/notification``) handled at once; they
    use the CPU and a database connection each, so more than a few per core only adds waiting."""
    issuance_queue: int = Field(default=64, ge=0)
    """Issuance requests waiting for a place; beyond it a request is answered 503 ``overloaded`` at once."""
    require_dpop: bool = False
    """Refuse ``/token`` without a DPoP proof (RFC 9449), so every access token is bound to a wallet
    key, as the HAIP profile asks (``CITYID_REQUIRE_DPOP=1``). Off, a DPoP proof is still honoured."""

    @field_validator("issuer_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{self.data / 'issuer.db'}"

    @property
    def type_base_url(self) -> str:
        """The base of every credential type's ``vct`` (``CITYID_VCT_BASE_URL``, or ``ISSUER_URL/types``):
        the issuer serves the Type Metadata there, so it must be a path under ``issuer_url``."""
        base = (self.vct_base_url or f"{self.issuer_url}/types").rstrip("/")
        if not base.startswith(self.issuer_url + "/"):
            raise SettingsError(f"CITYID_VCT_BASE_URL must be a path under CITYID_ISSUER_URL ({self.issuer_url}/...), "
                                f"where the issuer serves the credential types: not {base}")  # fmt: skip
        return base

    @property
    def https(self) -> bool:
        """Served over HTTPS: cookies are ``Secure`` and responses carry HSTS."""
        return self.issuer_url.startswith("https://")

    def passphrase(self) -> str:
        """The key-sealing passphrase; raises :class:`SettingsError` when absent or weak."""
        if self.issuer_passphrase is not None:
            value = self.issuer_passphrase.get_secret_value()
        elif self.issuer_passphrase_file is not None:
            try:
                value = self.issuer_passphrase_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SettingsError(f"cannot read CITYID_ISSUER_PASSPHRASE_FILE: {exc.strerror}") from exc
        else:
            raise SettingsError(
                "the issuer key passphrase is not set: set CITYID_ISSUER_PASSPHRASE, or "
                "CITYID_ISSUER_PASSPHRASE_FILE to a file holding it"
            )
        if len(value) < MIN_PASSPHRASE or value.lower() in PLACEHOLDERS:
            raise SettingsError(
                f"the issuer key passphrase must be at least {MIN_PASSPHRASE} characters, not a placeholder"
            )
        return value


SETTINGS_FILE = "settings.json"
"""Settings ``init`` writes into the data directory, so every command that uses it agrees."""


def stored_issuer_url(data: Path) -> str | None:
    """The issuer URL ``init`` stored in ``data``; None for a data directory from before there was one."""
    try:
        stored = json.loads((data / SETTINGS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise SettingsError(f"cannot read {data / SETTINGS_FILE}: {exc}") from None
    url = stored.get("issuer_url") if isinstance(stored, dict) else None
    if not isinstance(url, str) or not url:
        raise SettingsError(f"{data / SETTINGS_FILE} has no issuer_url")
    return url.rstrip("/")


def store_issuer_url(data: Path, url: str) -> None:
    """Record the issuer URL in ``data`` (written whole, then renamed into place)."""
    write_atomic(data / SETTINGS_FILE, json.dumps({"issuer_url": url.rstrip("/")}, indent=2) + "\n", mode=0o600)
