"""API tokens: create (the token is shown once), list, revoke, and look one up for a request.

A token is `bp_` and 43 URL-safe characters (256 random bits); the database keeps its SHA-256 only. No
function here logs a token or puts one in an exception's message.
"""

import enum
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from .models import ApiToken

logger = logging.getLogger(__name__)

PREFIX = "bp_"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
# A token is 46 characters; anything much longer is not one of ours and is not hashed or looked up.
MAX_TOKEN_CHARS = 128
# last_used_at is written at most this often per token: a write per request would contend with the
# fast path for SQLite's one write lock.
LAST_USED_EVERY = timedelta(minutes=1)


class TokenError(ValueError):
    """A token command cannot do what was asked (a bad or taken name, no such token): one line for the
    user."""


class TokenState(enum.Enum):
    """What the request's credentials came to."""

    ABSENT = "absent"  # no Authorization header
    MALFORMED = "malformed"  # a header, but not `Bearer <token>`
    UNKNOWN = "unknown"  # a bearer token no row has
    REVOKED = "revoked"
    VALID = "valid"


@dataclass(frozen=True, slots=True)
class TokenCheck:
    state: TokenState
    name: str | None = None  # the token's name when it was found (valid or revoked)
    revoked_at: datetime | None = None
    user: str = ""  # whose token it is (docs/team.md); "" for the install's owner


class TokenRow(TypedDict):
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_create(*, name: str) -> str:
    """A new token named `name`. Returns the token: the only time it exists outside the client."""
    if not NAME_RE.fullmatch(name):
        raise TokenError(
            f"a token name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit; "
            f"got {name[:80]!r}"
        )
    token = PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            ApiToken.objects.create(name=name, digest=digest_of(token))
    except IntegrityError:
        raise TokenError(
            f"a token named {name!r} exists; revoke it first (`blueplane token revoke {name}`) or pick another name"
        ) from None
    return token


def token_list() -> list[TokenRow]:
    """Every token, live and revoked, oldest first (no digests)."""
    rows = ApiToken.objects.order_by("created_at", "id")
    return [TokenRow(**r) for r in rows.values("name", "created_at", "last_used_at", "revoked_at")]


def token_revoke(*, name: str) -> datetime:
    """Revoke the live token named `name`; requests with it are refused from now on. Returns when."""
    now = timezone.now()
    if not ApiToken.objects.filter(name=name, revoked_at__isnull=True).update(revoked_at=now):
        raise TokenError(f"no live token named {name[:80]!r} (`blueplane token list` lists them)")
    return now


def tokens_exist() -> bool:
    """Whether any live token exists; False too while the database is not set up or cannot be read."""
    try:
        return ApiToken.objects.filter(revoked_at__isnull=True).exists()
    except DatabaseError:
        return False


def bearer_token(header: str | None) -> tuple[TokenState, str | None]:
    """The token of an Authorization header: (ABSENT, None), (MALFORMED, None) or (UNKNOWN, token) for a
    token still to look up."""
    if header is None:
        return TokenState.ABSENT, None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS or " " in token:
        return TokenState.MALFORMED, None
    return TokenState.UNKNOWN, token


def token_check(header: str | None) -> TokenCheck:
    """What an Authorization header's credentials are worth (one indexed read when there is a token)."""
    state, token = bearer_token(header)
    if token is None:
        return TokenCheck(state)
    row = ApiToken.objects.filter(digest=digest_of(token)).values(
        "id", "name", "revoked_at", "last_used_at", "user"
    )
    found = row.first()
    if found is None:
        return TokenCheck(TokenState.UNKNOWN)
    if found["revoked_at"] is not None:
        return TokenCheck(TokenState.REVOKED, found["name"], found["revoked_at"])
    _last_used_note(found["id"], found["last_used_at"])
    return TokenCheck(TokenState.VALID, found["name"], user=found["user"])


def _last_used_note(token_id: int, last_used_at: datetime | None) -> None:
    now = timezone.now()
    if last_used_at is not None and now - last_used_at < LAST_USED_EVERY:
        return
    try:
        ApiToken.objects.filter(id=token_id).update(last_used_at=now)
    except DatabaseError:
        # A figure for `token list`, not worth failing the request over (e.g. the database is locked).
        logger.debug("could not note a token's last use", exc_info=True)
