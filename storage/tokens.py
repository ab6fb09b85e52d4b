"""API tokens and the console sessions opened with them. Only sha256 hashes of secrets are stored."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain import Actor, Role
from storage.base import SESSIONS, TOKENS, StoreBase
from storage.records import ApiTokenInfo, IssuedToken, OpenedSession, TokenNameTakenError, hash_token
from storage.rows import actor_from_token_row, token_info_from_row
from storage.types import utcnow

# Tokens read "ac_<role>_<secret>", so a token pasted into a chat or a log says what it opens.
ROLE_SHORT: dict[Role, str] = {Role.SUPPORT: "sup", Role.MERCHANT: "mer", Role.ENGINEER: "eng", Role.ADMIN: "adm"}
TOKEN_PREFIX_SECRET_CHARS = 4  # how much of the secret part a listing shows: enough to tell tokens apart
# last_used_at is a hint for people, not an access log: refresh it at most this often, so that a busy
# token does not turn every authenticated request into a write (on SQLite, a wait for the write lock).
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokensStore(StoreBase):
    """API tokens and console sessions."""

    # -- API tokens ---------------------------------------------------------------------------------

    def create_api_token(self, name: str, role: Role, merchant_id: str | None = None) -> IssuedToken:
        """Issue a token; the plaintext is in the result only, the database keeps its sha256.

        A merchant token needs `merchant_id` (it acts on that merchant's orders only); other roles act on
        every merchant and take none. Raises ValueError for a bad argument, naming it, and
        TokenNameTakenError when an active token already has `name`.
        """
        name = name.strip()
        if not name or len(name) > 128:
            raise ValueError(f"name must be 1-128 characters, got {len(name)}")
        try:
            role = Role(role)
        except ValueError:
            valid = ", ".join(r.value for r in Role)
            raise ValueError(f"role {role!r} is not one of: {valid}") from None
        if role is Role.MERCHANT and not merchant_id:
            raise ValueError("merchant_id is required for a merchant token: it acts on that merchant's orders only")
        if role is not Role.MERCHANT and merchant_id is not None:
            raise ValueError(
                f"merchant_id is only for merchant tokens; a {role.value} token acts on every merchant, "
                f"so leave it out (or use role merchant)"
            )
        short = f"ac_{ROLE_SHORT[role]}_"
        token = short + secrets.token_urlsafe(32)
        prefix = token[: len(short) + TOKEN_PREFIX_SECRET_CHARS]
        try:
            with self._writer.begin() as conn:
                conn.execute(
                    TOKENS.insert().values(
                        name=name,
                        role=role.value,
                        merchant_id=merchant_id,
                        token_hash=hash_token(token),
                        prefix=prefix,
                        created_at=utcnow(),
                    )
                )
        except sa.exc.IntegrityError as exc:
            taken = self._row(sa.select(TOKENS.c.pk).where(TOKENS.c.name == name, TOKENS.c.revoked_at.is_(None)))
            if taken is None:  # not the name: a hash collision of 256 random bits, or a real fault
                raise
            raise TokenNameTakenError(
                f"an active API token is already named {name!r}; revoke it first or choose another name"
            ) from exc
        return IssuedToken(name=name, role=role, merchant_id=merchant_id, token=token, prefix=prefix)

    def authenticate(self, token: str) -> Actor | None:
        """The actor a token stands for, or None if the token is unknown or revoked.

        Marks the token used, at most once per LAST_USED_RESOLUTION, so that most requests only read.
        """
        if not token:
            return None
        with self.engine.begin() as conn:
            row = self._active_token(conn, token)
        if row is None:
            return None
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            stale = sa.or_(TOKENS.c.last_used_at.is_(None), TOKENS.c.last_used_at < now - LAST_USED_RESOLUTION)
            with self._writer.begin() as conn:
                conn.execute(TOKENS.update().where(TOKENS.c.pk == row.pk, stale).values(last_used_at=now))
        return actor_from_token_row(row)

    # -- console sessions ---------------------------------------------------------------------------

    def open_session(self, token: str, lifetime: timedelta, *, now: datetime | None = None) -> OpenedSession | None:
        """Sign a browser in with an API token: a new session for the token's actor that ends `lifetime`
        from now at the latest; None if the token is unknown or revoked. Only the id's sha256 is stored.
        Sessions that ended already are deleted on the way, so the table does not grow."""
        if not token:
            return None
        now = now or utcnow()
        session_id = secrets.token_urlsafe(32)
        with self._writer.begin() as conn:
            row = self._active_token(conn, token)
            if row is None:
                return None
            conn.execute(SESSIONS.delete().where(SESSIONS.c.expires_at <= now))
            conn.execute(
                SESSIONS.insert().values(
                    session_hash=hash_token(session_id),
                    token_pk=row.pk,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + lifetime,
                )
            )
        actor = actor_from_token_row(row)
        return OpenedSession(session_id=session_id, actor=actor, expires_at=now + lifetime)

    def session_actor(self, session_id: str, idle: timedelta, *, now: datetime | None = None) -> Actor | None:
        """Who a console session stands for, or None if it is unknown, ended (logout, past its absolute
        expiry, idle for `idle` or longer) or its token was revoked. Marks it seen, at most once per
        LAST_USED_RESOLUTION, so that most requests only read."""
        if not session_id:
            return None
        now = now or utcnow()
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(SESSIONS.c.pk, SESSIONS.c.last_seen_at, TOKENS.c.name, TOKENS.c.role, TOKENS.c.merchant_id)
                .join(TOKENS, TOKENS.c.pk == SESSIONS.c.token_pk)
                .where(
                    SESSIONS.c.session_hash == hash_token(session_id),
                    SESSIONS.c.expires_at > now,
                    SESSIONS.c.last_seen_at > now - idle,
                    TOKENS.c.revoked_at.is_(None),
                )
            ).first()
        if row is None:
            return None
        if now - row.last_seen_at >= LAST_USED_RESOLUTION:
            with self._writer.begin() as conn:
                conn.execute(
                    SESSIONS.update()
                    .where(SESSIONS.c.pk == row.pk, SESSIONS.c.last_seen_at < now)
                    .values(last_seen_at=now)
                )
        return actor_from_token_row(row)

    def close_session(self, session_id: str) -> bool:
        """Sign out: the session is deleted, so its cookie stops working everywhere at once. False if
        there was no such session."""
        if not session_id:
            return False
        with self._writer.begin() as conn:
            result = conn.execute(SESSIONS.delete().where(SESSIONS.c.session_hash == hash_token(session_id)))
            return result.rowcount > 0

    @staticmethod
    def _active_token(conn: Connection, token: str) -> Any:
        """The row of an active (not revoked) token, by its hash; None if there is none."""
        columns = (TOKENS.c.pk, TOKENS.c.name, TOKENS.c.role, TOKENS.c.merchant_id, TOKENS.c.last_used_at)
        return conn.execute(
            sa.select(*columns).where(TOKENS.c.token_hash == hash_token(token), TOKENS.c.revoked_at.is_(None))
        ).first()

    def list_api_tokens(self) -> list[ApiTokenInfo]:
        """Every token ever issued, revoked ones included, oldest first; never a hash."""
        rows = self._rows(sa.select(TOKENS).order_by(TOKENS.c.created_at, TOKENS.c.pk))
        return [token_info_from_row(r) for r in rows]

    def revoke_api_token(self, name: str) -> bool:
        """Revoke the active token called `name` at once, and end its console sessions; False if there is
        none (unknown or already revoked). The row stays, so listings and the audit log can still say whose
        token it was."""
        with self._writer.begin() as conn:
            pks = (
                conn.execute(
                    TOKENS.update()
                    .where(TOKENS.c.name == name.strip(), TOKENS.c.revoked_at.is_(None))
                    .values(revoked_at=utcnow())
                    .returning(TOKENS.c.pk)
                )
                .scalars()
                .all()
            )
            if pks:
                conn.execute(SESSIONS.delete().where(SESSIONS.c.token_pk.in_(pks)))
            return bool(pks)
