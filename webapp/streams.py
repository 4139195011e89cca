"""Live streams (SSE and WebSockets): who holds one, how many each may hold, when one must end.

Every stream is opened for a holder: a signed-in browser, a bearer token (personal, a login's
access token, or the static one) or a guest session. It counts against each of the holder's
keys — its user, its token, its guest session — and no key may hold more than the `max_streams`
setting (default 20) in this web process: the next stream is refused with a 429 before it
starts. Without a cap one client could hold every connection the server has.

A stream ends as soon as its holder may no longer have it. A password change, a reset, a role
change or a deletion writes an ACCESS_CHANGED event for the user; each of that user's streams
then checks its credentials against the database (`Holder.still_valid`) and closes if they no
longer hold — a stolen session or token loses its live view with everything else.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import current_app, request

from webapp.bearer import current_principal
from webapp.errors import TooManyRequests
from webapp.extensions import db
from webapp.models import ApiToken, LoginSession, User
from webapp.services.accounts.identity import Principal, role_scopes
from webapp.services.admin import runtime_settings
from webapp.services.queue import events
from webapp.services.queue.events import EventRecord


@dataclass(frozen=True)
class Holder:
    """Whose stream it is, copied out of the request so no ORM object outlives it."""

    keys: tuple
    user_id: int | None = None
    session_version: int | None = None  # a browser's sign-in
    token_id: int | None = None
    login_session_id: int | None = None
    scopes: frozenset = frozenset()

    @classmethod
    def of_browser(cls, user: User) -> "Holder":
        return cls(keys=(("user", user.id),), user_id=user.id, session_version=user.session_version or 0)

    @classmethod
    def of_principal(cls, principal: Principal) -> "Holder":
        if principal.via_static_token:
            return cls(keys=(("static-token",),), scopes=principal.scopes)
        keys = [("user", principal.user_id)]
        token_id = login_id = None
        if principal.token is not None:
            token_id = principal.token.id
            keys.append(("token", token_id))
        elif principal.login_session is not None:
            login_id = principal.login_session.id
            keys.append(("login", login_id))
        return cls(keys=tuple(keys), user_id=principal.user_id, token_id=token_id, login_session_id=login_id,
                   scopes=principal.scopes)

    @classmethod
    def of_guest(cls, guest_session_id: str) -> "Holder":
        return cls(keys=(("guest", guest_session_id),))

    def ended_by(self, record: EventRecord) -> bool:
        """Whether `record` says this holder's user's sign-ins changed and the stream's credentials
        no longer hold (then the stream must end). Holds no database connection afterwards."""
        if record.type != events.ACCESS_CHANGED or self.user_id is None or record.user_id != self.user_id:
            return False
        try:
            return not self.still_valid()
        finally:
            db.session.remove()

    def still_valid(self) -> bool:
        """Whether the credentials the stream was opened with still hold (one or two queries)."""
        if self.user_id is None:
            return True  # the static token (the operator's) and guests: nothing of a user's changed
        user = db.session.get(User, self.user_id)
        if user is None:
            return False
        if self.session_version is not None:
            return (user.session_version or 0) == self.session_version
        if self.token_id is not None:
            token = db.session.get(ApiToken, self.token_id)
            return (token is not None and token.revoked_at is None
                    and Principal(user=user, token=token).scopes == self.scopes)
        if self.login_session_id is not None:
            login = db.session.get(LoginSession, self.login_session_id)
            return login is not None and login.revoked_at is None and role_scopes(user) == self.scopes
        return False


class _Counts:
    """Open streams per key in this process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open: dict[tuple, int] = {}

    def full(self, keys, limit: int) -> bool:
        with self._lock:
            return any(self._open.get(key, 0) >= limit for key in keys)

    def take(self, keys, limit: int) -> bool:
        with self._lock:
            if any(self._open.get(key, 0) >= limit for key in keys):
                return False
            for key in keys:
                self._open[key] = self._open.get(key, 0) + 1
            return True

    def give_back(self, keys) -> None:
        with self._lock:
            for key in keys:
                left = self._open.get(key, 0) - 1
                if left > 0:
                    self._open[key] = left
                else:
                    self._open.pop(key, None)


def _counts() -> _Counts:
    return current_app.extensions.setdefault("haul_stream_counts", _Counts())


def _refusal(limit: int) -> TooManyRequests:
    return TooManyRequests(f"Too many live connections open at once (at most {limit} each); close one and "
                           "try again", error_code="too_many_streams")


class Admission:
    """One admitted stream's place in the counts; give it back once, when the stream ends."""

    def __init__(self, counts: _Counts, keys: tuple):
        self._counts, self._keys, self._held = counts, keys, True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._counts.give_back(self._keys)


def admit(holder: Holder) -> Admission:
    """Take a place for a new stream of `holder`, or raise TooManyRequests (429) when one of its
    keys already holds the limit."""
    limit = runtime_settings.stream_limit()
    counts = _counts()
    if not counts.take(holder.keys, limit):
        raise _refusal(limit)
    return Admission(counts, holder.keys)


def admit_socket(ws, holder: Holder) -> Admission | None:
    """admit() for a WebSocket whose handshake is done: None, with the socket closed (1013, try
    again later), when another stream took the last place since `check_websocket_room` let it in."""
    try:
        return admit(holder)
    except TooManyRequests as exc:
        ws.close(reason=1013, message=exc.detail)
        return None


def refuse_if_full(holder: Holder) -> None:
    """Raise TooManyRequests when `holder` has no room for another stream (takes none): for a
    WebSocket, whose handshake is answered before its handler runs and can no longer say 429."""
    limit = runtime_settings.stream_limit()
    if _counts().full(holder.keys, limit):
        raise _refusal(limit)


def check_websocket_room():
    """Before a WebSocket's handshake (an app-wide before_request): refuse with 429 a token that
    has no room for another stream, or an address guessing tokens. Other requests pass untouched."""
    rule = request.url_rule
    if rule is None or not getattr(rule, "websocket", False):
        return None
    principal = current_principal()  # raises 429 while the address is guessing tokens
    if principal is not None:
        refuse_if_full(Holder.of_principal(principal))
    return None
