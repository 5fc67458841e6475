"""The partner desk's settings and its server secret, read from the environment.

The worker (which mints contact links in notifications) and every portal replica read the
same secret: a link's token is derived from it, so a retried notification carries the same
link, and any replica recognises it. Only its hash is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

# The secrets file's reader is infra/secrets.py's own: one parser, one set of messages.
from infra.secrets import SecretError
from infra.secrets import _read_file as read_secrets_file
from infra.settings import (
    DEFAULT_STATE_DIR,
    Environment,
    IPNetwork,
    SettingsError,
    development_stack,
    networks,
    read_environment,
    whole_number,
)
from infra.settings import secrets_file as secrets_file_of

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8300"
LINK_SECRET_VARIABLE = "PACTE_LINK_SECRET"
_LINK_SECRET_FILE = "portal-link.secret"
_MIN_SECRET_BYTES = 32
GENERATE_SECRET_HINT = (
    'generate one with: python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
)
# Secrets that were published in Pacte's own files (an old docker-compose.yml default, the
# tests' secret): whoever reads the repository can mint links and unseal TOTP secrets with
# them, so a production start refuses them. Only their SHA-256 is kept here.
KNOWN_LINK_SECRET_HASHES = frozenset(
    {
        # docker-compose.yml's default until issue 28
        "18f882e24cedf305de40177876ad1dbdaa1a3602ff5b6457096150ad836b7399",
        # tests/partner_stack.py's TEST_LINK_SECRET
        "a501f2bee2001d5e580c3804d285831279fe5bd8004b2832007c29df560af926",
    }
)


@dataclass(frozen=True)
class PortalSettings:
    """Where the portal listens, the base of the links it sends, and its time limits."""

    public_url: str = DEFAULT_PUBLIC_URL
    host: str = "127.0.0.1"
    port: int = 8300
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    link_days_after_due: int = 30
    code_minutes: int = 10
    code_tries: int = 5
    max_body_bytes: int = 1_000_000
    answer_wait_seconds: float = 30.0
    """How long a contact's answer waits for its workflow to take it: the form's post no
    longer asks the workflow first (the inbox says what the task is), so a workflow no worker
    runs is told by the update's deadline (a 503 to come back), as the query's was."""
    trusted_proxies: tuple[IPNetwork, ...] = ()
    """The proxies whose `X-Forwarded-For` is believed (PACTE_TRUSTED_PROXIES): none by
    default, so the client is the TCP peer, whoever it is (loopback included)."""

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry `Secure` when the links are served over https."""
        return self.public_url.startswith("https://")


def load_portal_settings(env: Environment | None = None) -> PortalSettings:
    """Read PACTE_PUBLIC_URL, PACTE_PORTAL_HOST, PACTE_PORTAL_PORT, PACTE_SESSION_IDLE_MINUTES,
    PACTE_TRUSTED_PROXIES."""
    env = env or read_environment()
    public_url = (env.public_url or DEFAULT_PUBLIC_URL).rstrip("/")
    if not public_url.startswith(("http://", "https://")):
        raise SettingsError(f"PACTE_PUBLIC_URL: not an http(s) URL: {public_url!r}")
    return PortalSettings(
        public_url=public_url,
        host=env.portal_host or "127.0.0.1",
        port=whole_number("PACTE_PORTAL_PORT", env.portal_port, 8300),
        session_idle_minutes=whole_number(
            "PACTE_SESSION_IDLE_MINUTES", env.session_idle_minutes, 30
        ),
        trusted_proxies=networks("PACTE_TRUSTED_PROXIES", env.trusted_proxies),
    )


def link_secret(
    secrets_file: Path | None = None,
    state_dir: Path | None = None,
    env: Environment | None = None,
) -> bytes:
    """The server secret links, codes and CSRF tokens are derived from.

    PACTE_LINK_SECRET (base64 or base64url, 32 bytes or more), else `link_secret` in the
    secrets file, else (a development stack only, infra/settings.py) a random one kept in the
    state directory, made on first use. In production a missing secret, or one published in
    Pacte's own files, is refused (SecretError saying how to generate one).
    """
    env = env or read_environment()
    raw = env.link_secret
    where = LINK_SECRET_VARIABLE
    if not raw:
        file = secrets_file or secrets_file_of(env)
        if file is not None:
            value = read_secrets_file(file).get("link_secret")
            if value is not None and not isinstance(value, str):
                raise SecretError(f"{file}: link_secret must be base64 text")
            raw, where = value, f"{file} link_secret"
    production = not development_stack()
    if not raw:
        if production:
            raise SecretError(
                f"{LINK_SECRET_VARIABLE} is not set (nor link_secret in the secrets file), and "
                f"a production start needs one shared by the worker and the portal: "
                f"{GENERATE_SECRET_HINT}"
            )
        return _state_dir_secret(state_dir or Path(env.state_dir or ""))
    text = raw.strip()
    # token_urlsafe gives base64url ('-', '_'); older secrets are standard base64 ('+', '/').
    alphabet = b"-_" if ("-" in text or "_" in text) else None
    try:
        secret = base64.b64decode(text + "=" * (-len(text) % 4), altchars=alphabet, validate=True)
    except ValueError:
        raise SecretError(f"{where}: not base64; {GENERATE_SECRET_HINT}") from None
    if len(secret) < _MIN_SECRET_BYTES:
        raise SecretError(
            f"{where}: too short ({len(secret)} bytes, at least 32 are needed); "
            f"{GENERATE_SECRET_HINT}"
        )
    if production and hashlib.sha256(secret).hexdigest() in KNOWN_LINK_SECRET_HASHES:
        raise SecretError(
            f"{where}: a secret published in Pacte's own files, anyone can mint links with "
            f"it; {GENERATE_SECRET_HINT}"
        )
    return secret


def _state_dir_secret(state_dir: Path) -> bytes:
    directory = state_dir if str(state_dir) not in {"", "."} else DEFAULT_STATE_DIR
    path = directory / _LINK_SECRET_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        fresh = base64.b64encode(secrets.token_bytes(32)).decode()
        # Two processes starting at once: the first writer wins, the other reads its secret.
        try:
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(fresh)
        except FileExistsError:
            pass
    return base64.b64decode(path.read_text(encoding="ascii").strip())


def derived_key(secret: bytes, purpose: str) -> bytes:
    """A key for one purpose (links, codes, CSRF), so no two uses share a key."""
    return hmac.new(secret, b"pacte-portal/" + purpose.encode(), hashlib.sha256).digest()


def contact_link_token(secret: bytes, notification_id: str, contact_name: str) -> str:
    """The contact's link token for one notification: the same on every retry (256 bits)."""
    message = f"{notification_id}\0{contact_name}".encode()
    digest = hmac.new(derived_key(secret, "link"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_hash(token: str) -> bytes:
    """What is stored of a token or key: its SHA-256 (the token has 128+ random bits)."""
    return hashlib.sha256(token.encode()).digest()
