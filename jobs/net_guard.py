"""The network policy in the worker: a job not trusted with private addresses connects to public
addresses only — every job an admin did not submit, unless the admin's setting (users) or the
invite (guests) allows them (webapp/core/url_policy.py decides which jobs).

The submit-time check (webapp/core/url_policy.py) sees a host's addresses once, if at all. A name can
answer differently a second later (DNS rebinding), and a public page can redirect anywhere, so
the worker checks every connection a restricted job opens: the address is checked as
connect() gets it — after DNS, for every hop of a redirect, in whichever library made it.

What is hooked (process-wide, installed once, on the first guarded job):

* `socket.socket.connect` / `connect_ex`: every TCP connection Python code opens ends here —
  http.client and urllib (yt-dlp's urllib handler), urllib3 and requests (gallery-dl, the
  direct engine, yt-dlp's requests handler), websocket clients. A host name given to connect()
  is resolved here and the connection made to the checked address, so it cannot change between.
* `http.client.HTTPConnection.putrequest`: a request on a kept-alive connection opens none.
  Connection pools outlive jobs (gallery-dl shares its adapters process-wide, the direct engine
  keeps a session per thread), so a restricted job's request may reuse a connection a trusted job opened
  to a private address: the peer of a reused connection is checked before each request.
* `subprocess.Popen.__init__`: an external program (ffmpeg, rtmpdump, aria2c) connects where no
  hook in this process can see. yt-dlp is told to use its own downloaders for restricted jobs
  (jobs/engines/ytdlp.py), but it still hands live streams, HLS with features its native
  downloader lacks, and --download-sections to ffmpeg; so starting a program with a network URL
  as an argument is refused for a guarded job. ffmpeg on local files (merging, thumbnails,
  metadata) is left alone.
* `threading.Thread.start`: a thread started by a guarded job (yt-dlp's concurrent fragment
  downloads) is guarded by the same policy; a thread-local alone would not reach it.

What is not covered: connections made by C code with its own sockets (libcurl — curl_cffi, which
yt-dlp would use for impersonation, is not installed; libpq, Haul's own database connection,
which no URL can steer); UDP (no tool here fetches over it; DNS lookups run in libc and
are not hooked); and an HTTP proxy, if one is configured: then the proxy's address is what gets
checked, not the site's. Unix-domain sockets are not checked: no URL leads to one.

Cost for every other job: the hooks look at one thread-local attribute and call through.
"""
from __future__ import annotations

import contextlib
import http.client
import ipaddress
import os
import re
import socket
import subprocess
import threading
from typing import Iterator

from webapp.core.url_policy import non_public_reason

POLICY_NAME = "Haul's network policy"
_INET_FAMILIES = (socket.AF_INET, socket.AF_INET6)
# An argument that makes a program fetch from the network: "scheme://…" other than file://.
_NETWORK_ARGUMENT = re.compile(r"(?i)^(?!file:)[a-z][a-z0-9+.-]*://")


class PolicyRefused(PermissionError):
    """A connection (or external program) a restricted job may not make. An OSError, so the tools
    treat it as a failed connection: one address of several refused, they try the next."""


class Guard:
    """The policy of one job, and the last thing it refused.

    The tools wrap a refused connection into their own errors (often as a retryable connection
    error), so the runner reads `refusal` to tell what really happened."""

    __slots__ = ("refusal",)

    def __init__(self):
        self.refusal: PolicyRefused | None = None

    def refuse(self, message: str) -> PolicyRefused:
        self.refusal = PolicyRefused(message)
        return self.refusal

    def check_connect(self, sock: socket.socket, address) -> tuple:
        """The address to connect to (a host name resolved here), or raise when it is not public."""
        host, port = address[0], address[1]
        if isinstance(host, bytes):
            host = host.decode("idna")
        if host in ("", "<broadcast>"):  # connect()'s own spellings of "any" and "broadcast"
            ip, target = ("255.255.255.255" if host else "0.0.0.0"), address
        elif _is_ip_literal(host):
            ip, target = host, address
        else:
            # connect() would look the name up itself: look it up here and connect to the
            # address checked, so the name cannot answer differently in between.
            target = socket.getaddrinfo(host, port, sock.family, sock.type)[0][4]
            ip = target[0]
        reason = non_public_reason(ip)
        if reason:
            shown = host if host == ip else f"{host} ({ip})"
            raise self.refuse(f"Connection to {shown} port {port} refused by {POLICY_NAME}: {ip} is {reason}")
        return target

    def check_peer(self, sock: socket.socket) -> None:
        """Raise when a kept-alive connection's peer is not public."""
        if sock.family not in _INET_FAMILIES:
            return
        try:
            ip, port = sock.getpeername()[:2]
        except OSError:  # not connected after all: the request's own connect is checked
            return
        reason = non_public_reason(ip)
        if reason:
            raise self.refuse(f"Request on an open connection to {ip} port {port} refused by {POLICY_NAME}: "
                              f"{ip} is {reason}")

    def check_program(self, args) -> None:
        """Raise when a program would be started with a network URL to fetch."""
        if isinstance(args, (str, bytes, os.PathLike)):
            text = os.fsdecode(args)
            arguments = text.split() if isinstance(args, (str, bytes)) else [text]
        else:
            arguments = [os.fsdecode(arg) if isinstance(arg, (str, bytes, os.PathLike)) else str(arg)
                         for arg in args]
        url = next((arg for arg in arguments if _NETWORK_ARGUMENT.match(arg)), None)
        if url is not None:
            program = os.path.basename(arguments[0]) if arguments else "a program"
            shown = url if len(url) <= 100 else url[:97] + "..."
            raise self.refuse(f"Running {program} to fetch {shown} refused by {POLICY_NAME}: an external "
                              "program's connections cannot be checked")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


class _ThreadState(threading.local):
    guard: Guard | None = None  # the running job's, when it is restricted to public addresses


_state = _ThreadState()
_install_lock = threading.Lock()
_originals: dict[str, object] = {}


@contextlib.contextmanager
def guarded(public_only: bool) -> Iterator[Guard]:
    """Run the block under the network policy when `public_only`; yields the job's Guard either way
    (one that never refuses anything when not `public_only`)."""
    guard = Guard()
    if not public_only:
        yield guard
        return
    install()
    previous, _state.guard = _state.guard, guard
    try:
        yield guard
    finally:
        _state.guard = previous


# The hooks --------------------------------------------------------------------------------------


def _connect(self, address):
    guard = _state.guard
    if guard is not None and self.family in _INET_FAMILIES:
        address = guard.check_connect(self, address)
    return _originals["connect"](self, address)


def _connect_ex(self, address):
    guard = _state.guard
    if guard is not None and self.family in _INET_FAMILIES:
        address = guard.check_connect(self, address)  # raises rather than return an errno: no errno says why
    return _originals["connect_ex"](self, address)


def _putrequest(self, *args, **kwargs):
    guard = _state.guard
    if guard is not None and self.sock is not None:
        guard.check_peer(self.sock)
    return _originals["putrequest"](self, *args, **kwargs)


def _popen_init(self, args, *rest, **kwargs):
    guard = _state.guard
    if guard is not None:
        guard.check_program(args)
    return _originals["popen_init"](self, args, *rest, **kwargs)


def _thread_start(self):
    guard = _state.guard
    if guard is not None:
        run = self.run

        def run_guarded():
            _state.guard = guard
            run()

        self.run = run_guarded
    return _originals["thread_start"](self)


def install() -> None:
    """Put the hooks in place (once per process); they do nothing outside a guarded job."""
    with _install_lock:
        if _originals:
            return
        _originals.update(
            connect=socket.socket.connect,
            connect_ex=socket.socket.connect_ex,
            putrequest=http.client.HTTPConnection.putrequest,
            popen_init=subprocess.Popen.__init__,
            thread_start=threading.Thread.start,
        )
        socket.socket.connect = _connect
        socket.socket.connect_ex = _connect_ex
        http.client.HTTPConnection.putrequest = _putrequest
        subprocess.Popen.__init__ = _popen_init
        threading.Thread.start = _thread_start
