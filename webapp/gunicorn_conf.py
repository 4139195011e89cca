"""gunicorn settings for the web process (`gunicorn -c python:webapp.gunicorn_conf wsgi:app`)."""
import gc
import os

from webapp.config import load_settings

_settings = load_settings(check_tool_args=False)

bind = f"{_settings.host}:{_settings.port}"
worker_class = "gevent"
# One serving process by default; HAUL_WEB_PROCESSES more on PostgreSQL (docs/scale-out.md).
workers = _settings.web_processes
# SSE and WebSocket clients each hold a connection; gunicorn's default of 1,000 would cap them.
# 10,000 per serving process: one process holds 5,000 live streams (docs/benchmarks.md, ~35 KiB
# each), with room for the pages and API calls beside them. What one user, token or guest may
# hold is capped by the max_streams setting (webapp/streams.py), not by this.
worker_connections = 10000


def _raise_open_files_limit(wanted: int = worker_connections + 1000) -> None:
    """Each connection is a file descriptor: lift the soft limit (often 1,024) towards the hard
    one, as `ulimit -n` would, so the cap above is reachable; never above the hard limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


_raise_open_files_limit()
# gunicorn 27 otherwise writes a control socket under ~/.gunicorn/.
control_socket_disable = True
# Open streams would hold a graceful shutdown until this timeout; keep it short.
graceful_timeout = 5
timeout = 60
# X-Forwarded-* headers are believed only as HAUL_TRUSTED_PROXIES says (webapp/reverse_proxy.py);
# gunicorn would otherwise take X-Forwarded-Proto from any client on 127.0.0.1 on its own.
forwarded_allow_ips = ""
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()


def post_fork(server, worker):
    """Give the serving process a scheduling group of its own (a new session).

    Linux's autogroup scheduler shares the CPU between sessions first, then between the
    processes inside each one. Started by `make run` or the container, web and worker would
    share one session, so a busy worker (yt-dlp parsing pages, hashing, ffmpeg) and the pages
    got the CPU one process each; in its own group the web gets at least an even share of the
    machine when everything is busy, and nothing is taken from the worker when the web is idle
    (the scheduler lends unused shares). No root needed; without autogroup this changes nothing.
    The master still supervises the worker by pid, and stops it on Ctrl-C.
    """
    try:
        os.setsid()
    except OSError:  # already a session leader: nothing to gain
        pass


def post_worker_init(worker):
    """Once the app is loaded in the serving process: log the setup code on a first run, end
    live streams when the worker is told to stop (open streams would otherwise hold the
    graceful shutdown until graceful_timeout), and freeze what is loaded for the collector."""
    # Imported here, in the serving process: the master reads this file too and never needs them.
    import gevent

    from webapp import announce_setup

    announce_setup(worker.wsgi)

    def close_streams_on_shutdown():
        while worker.alive:
            gevent.sleep(0.25)
        worker.wsgi.extensions["haul_event_hub"].close()

    gevent.spawn(close_streams_on_shutdown)

    # Everything loaded so far (modules, the app, its schemas and statements) lives as long as
    # the process: move it out of the collector's sight, so the full collections that requests
    # set off now and then do not walk it all again (a pause in every request being served).

    gc.collect()
    gc.freeze()


def pre_fork(server, worker):
    """In the master, just before it forks the serving process: freeze what it has loaded.

    The serving process starts as a copy-on-write view of the master's memory. The collector
    writes to the header of every object it examines, which copies the page it lies on; the
    master's own modules (gunicorn, gevent, the stdlib) frozen here stay shared between the
    two instead of being copied into the child by its first collections.
    """
    gc.freeze()
