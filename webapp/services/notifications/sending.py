"""Sending one message to one target, and what a try leaves on the delivery and the target.

Two kinds of target:

- Apprise: the library sends it (`notify(title, body, attach)`), whatever the service.
- webhook: a POST of JSON (messages.webhook_body) with
  `X-Haul-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the target's secret>`,
  `X-Haul-Timestamp` (Unix seconds) and `X-Haul-Event`. Redirects are not followed. The
  connection's peer is checked before a byte is sent when the target may reach public addresses
  only, so neither DNS nor a rebinding trick turns it towards the server's own network.

A failure is a `SendFailed` with a short text that never quotes the URL or the secret. The
worker (jobs/notify.py) retries a delivery after 30 s, 2 min, 10 min, 1 h and 6 h, then gives it
up (status failed); the target shows its last success, last error and failures in a row.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import re
import socket
import ssl
import threading
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import update

from webapp.core import url_policy
from webapp.core.vocabulary import APPRISE_TARGET
from webapp.extensions import db
from webapp.models import NotificationDelivery, NotificationTarget
from webapp.models.base import isoformat, utcnow
from webapp.services.notifications import messages, targets
from webapp.services.notifications.messages import Message

SEND_TIMEOUT_SECONDS = 10.0
# How long "Send test" waits for the worker to send a user's test message.
TEST_WAIT_SECONDS = 20.0
# "Send test" sends from the web at once: rate limited, so it is no way to make Haul knock on a host in a loop.
TEST_LIMIT = "20 per minute"
# After the first failed try, the next after each of these; when they are used up the delivery fails.
BACKOFF_SECONDS = (30, 120, 600, 3600, 6 * 3600)
MAX_ERROR = 300
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
SIGNATURE_HEADER, TIMESTAMP_HEADER, EVENT_HEADER = "X-Haul-Signature", "X-Haul-Timestamp", "X-Haul-Event"
_URLISH = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


class SendFailed(Exception):
    """A try that did not reach the target; `str()` is safe to show (no URL, no secret)."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Haul-Signature value: HMAC-SHA256 of "<timestamp>.<body>", hex, with its prefix."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def send(target: NotificationTarget, message: Message, *, delivery_id: int | None = None,
         timeout: float = SEND_TIMEOUT_SECONDS, public_only: bool | None = None) -> None:
    """Send `message` to `target`, or raise SendFailed.

    `public_only` (default: unless the owner is an admin) checks the host's addresses first,
    and the webhook's peer once connected; the worker's network guard checks every connection too."""
    if public_only is None:
        public_only = not targets.owner_is_admin(target)
    try:
        if target.kind == APPRISE_TARGET:
            _send_apprise(target, message, timeout, public_only)
        else:
            _send_webhook(target, message, delivery_id, timeout, public_only)
    except SendFailed as exc:
        raise SendFailed(scrub(str(exc), target)) from None


def _send_apprise(target: NotificationTarget, message: Message, timeout: float, public_only: bool) -> None:
    import apprise  # noqa: PLC0415  (heavy; only where something is sent)

    plugin = targets.apprise_plugin(target.url)
    if plugin is None:
        raise SendFailed("Apprise does not recognise the target's URL any more")
    if public_only:
        host = targets.network_host(plugin)
        if host:
            _check_public(host, getattr(plugin, "port", None))
    # Each connection and each read waits at most `timeout`.
    plugin.socket_connect_timeout = plugin.socket_read_timeout = timeout
    attach = None
    if message.thumbnail is not None and getattr(plugin, "attachment_support", False):
        attach = apprise.AppriseAttachment()
        attach.add(str(message.thumbnail))
    # The plugin is called here, in this thread: Apprise.notify() hands the work to long-lived
    # pools of its own, whose threads the worker's network guard (per thread) would not cover.
    with _ThreadLog() as log:
        try:
            sent = plugin.notify(body=message.body, title=message.title, attach=attach)
        except Exception as exc:  # a plugin's own bug: a failed try, never a crashed sender
            raise SendFailed(f"Apprise failed: {type(exc).__name__}") from None
    if not sent:
        raise SendFailed(log.last() or "Apprise could not send the notification")


class _ThreadLog(logging.Handler):
    """Apprise's warnings and errors logged by this thread (other sends run beside it)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())

    def last(self) -> str | None:
        return self.lines[-1].strip() if self.lines else None

    def __enter__(self):
        logging.getLogger("apprise").addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("apprise").removeHandler(self)


def _send_webhook(target: NotificationTarget, message: Message, delivery_id: int | None, timeout: float,
                  public_only: bool) -> None:
    parts = urlsplit(target.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SendFailed("The webhook URL is not an http(s) URL")
    host = parts.hostname
    try:
        port = parts.port
    except ValueError:
        raise SendFailed("The webhook URL's port is not valid") from None
    if public_only:
        _check_public(host, port)
    timestamp = str(int(time.time()))
    body = json.dumps(messages.webhook_body(message, delivery_id, isoformat(utcnow())), separators=(",", ":"),
                      default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Haul-Webhook/1",
               SIGNATURE_HEADER: sign(target.secret or "", timestamp, body), TIMESTAMP_HEADER: timestamp,
               EVENT_HEADER: message.event}
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.connect()
        if public_only:
            _check_peer(connection.sock)
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(64 * 1024)
    except SendFailed:
        raise
    except socket.timeout:
        raise SendFailed(f"No answer within {timeout:g} s") from None
    except ConnectionRefusedError:
        raise SendFailed("Connection refused") from None
    except socket.gaierror:
        raise SendFailed("The host name could not be resolved") from None
    except ssl.SSLError as exc:
        raise SendFailed(f"TLS failed: {exc.reason or 'handshake error'}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise SendFailed(f"Connection failed: {type(exc).__name__}") from None
    finally:
        connection.close()
    if not 200 <= response.status < 300:
        raise SendFailed(f"The webhook answered HTTP {response.status}")


def _check_public(host: str, port: int | None) -> None:
    try:
        targets.check_public_host(host, port, must_resolve=False)
    except Exception as exc:  # Invalid: the same words, as a failed try
        raise SendFailed(getattr(exc, "detail", "The host is not allowed")) from None


def _check_peer(sock) -> None:
    """Refuse a connection that reached a non-public address (after DNS, whatever it answered)."""
    try:
        address = sock.getpeername()[0]
    except OSError:
        return
    reason = url_policy.non_public_reason(address)
    if reason:
        raise SendFailed(f"Refused: the host is {reason} (only an admin's target may reach one)")


def scrub(text: str, target: NotificationTarget) -> str:
    """A failure's text, short, without the target's URL, secret or anything URL-like."""
    for secret in (target.url, target.secret):
        if secret:
            text = text.replace(secret, "…")
    parts = urlsplit(target.url or "")
    for credential in (parts.password, parts.username, parts.path.strip("/") if len(parts.path) > 8 else None):
        if credential:
            text = text.replace(credential, "…")
    text = _URLISH.sub("<url>", text)
    return " ".join(text.split())[:MAX_ERROR] or "Failed"


# -- what a try leaves behind --------------------------------------------------------------------


def next_attempt_delay(attempts: int) -> timedelta | None:
    """How long after failed try number `attempts` (1-based) the next one is due; None: give up."""
    if attempts <= len(BACKOFF_SECONDS):
        return timedelta(seconds=BACKOFF_SECONDS[attempts - 1])
    return None


def record_success(delivery: NotificationDelivery | None, target: NotificationTarget, now: datetime) -> None:
    """The delivery was sent; the target works (the caller commits)."""
    if delivery is not None:
        delivery.status, delivery.sent_at, delivery.last_error = SENT, now, None
        delivery.attempts = (delivery.attempts or 0) + 1
    target.last_success_at = now
    target.consecutive_failures = 0


def record_failure(delivery: NotificationDelivery | None, target: NotificationTarget, error: str,
                   now: datetime) -> None:
    """The try failed: the delivery waits for its next try or fails for good; the target shows
    the error (the caller commits)."""
    error = error[:MAX_ERROR]
    if delivery is not None:
        delivery.attempts = (delivery.attempts or 0) + 1
        delivery.last_error = error
        delay = next_attempt_delay(delivery.attempts)
        if delay is None or delivery.event == messages.TEST_EVENT:  # a test is tried once
            delivery.status = FAILED
        else:
            delivery.status, delivery.next_attempt_at = PENDING, now + delay
    target.last_error, target.last_error_at = error, now
    target.consecutive_failures = (target.consecutive_failures or 0) + 1


def run_test(target: NotificationTarget, thumbnail_dir=None) -> str | None:
    """"Send test": None when the test message was delivered, else why not (safe to show).

    An admin's target is sent from here at once. A user's is handed to the worker, which sends
    every connection of it under the network guard (public addresses only, after DNS and every
    redirect), and waited for: the web never connects where a user's URL leads."""
    if targets.owner_is_admin(target):
        return send_test(target, thumbnail_dir)
    return wait_for_test(queue_test(target))


def queue_test(target: NotificationTarget) -> int:
    """A test message for the worker to send now (tried once). Commits; returns its id."""
    delivery = NotificationDelivery(target_id=target.id, event=messages.TEST_EVENT, payload={"title": target.name},
                                    status=PENDING, attempts=0, next_attempt_at=utcnow())
    db.session.add(delivery)
    db.session.commit()
    return delivery.id


def wait_for_test(delivery_id: int, timeout: float | None = None, poll: float = 0.2) -> str | None:
    """Wait for the worker to send test `delivery_id`: None when sent, else why not. A test the
    worker did not take in time is withdrawn (a worker starting later must not send it)."""
    timeout = TEST_WAIT_SECONDS if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()  # a fresh read of what the worker committed
        delivery = db.session.get(NotificationDelivery, delivery_id, populate_existing=True)
        if delivery is None:
            return "The target was removed"
        if delivery.status == SENT:
            return None
        if delivery.status == FAILED:
            return delivery.last_error or "Failed"
        if time.monotonic() >= deadline:
            break
        time.sleep(poll)
    withdrawn = db.session.execute(
        update(NotificationDelivery)
        .where(NotificationDelivery.id == delivery_id, NotificationDelivery.status == PENDING)
        .values(status=FAILED, last_error="Not sent: the worker did not take it in time")
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if withdrawn:
        return f"The worker did not send it within {timeout:g} s: is it running?"
    return wait_for_test(delivery_id, timeout=SEND_TIMEOUT_SECONDS * 2 + 1, poll=poll)  # being sent now


def send_test(target: NotificationTarget, thumbnail_dir=None, timeout: float = 5.0) -> str | None:
    """Send the test message from this process now; record the outcome on the target and
    commit. Returns None when it was sent, else the failure's (safe) text."""
    message = messages.compose(messages.TEST_EVENT, {"title": target.name}, thumbnail_dir)
    try:
        send(target, message, timeout=timeout)
    except SendFailed as exc:
        record_failure(None, target, str(exc), utcnow())
        db.session.commit()
        return str(exc)
    record_success(None, target, utcnow())
    db.session.commit()
    return None
