"""Haul's application factory. Reads like a table of contents: extensions, blueprints, errors, commands."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

# Everything is imported inside the functions: gunicorn's master process imports this package
# (for webapp.config) and should not carry Flask's memory for nothing, and each role imports
# only its own parts (the worker never loads the blueprints, the web never the engines).

log = logging.getLogger("haul")


def _detect_role() -> str:
    """ "cli" when a `flask …` command is loading the app, else "web" (gunicorn)."""
    import click

    return "cli" if click.get_current_context(silent=True) is not None else "web"


def create_app(settings=None, role: str | None = None, **overrides) -> "Flask":
    """Build the app for the web process, the worker or the CLI (they share models and config).

    Roles: "web" (gunicorn; the default outside a command), "worker", "cli" (a `flask …`
    command), "test" (in-process tests: the web's parts plus migrations).
    """
    from flask import Flask

    from webapp.config import flask_config, load_settings

    settings = settings or load_settings()
    role = role or _detect_role()
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.update(flask_config(settings))
    app.config.update(overrides)
    app.config["HAUL_ROLE"] = role
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    configure_app_log(settings, role)

    register_extensions(app)
    connect_worker_queue()
    if role != "worker":
        # The worker never serves a request: its routes, forms and templates would cost ~4 MB.
        register_blueprints(app)
        register_error_handlers(app)
    register_commands(app)
    if role in ("web", "test"):
        start_web_services(app)
    # Every process that commits events wakes every web process's hub (after the hub exists).
    from webapp.services.queue import event_wakeups

    event_wakeups.install(app)
    return app


def configure_app_log(settings, role: str) -> None:
    """The application log's file for this process's role (webapp/app_log.py); a process that serves
    requests adds the signed-in user and the request id to each record."""
    from webapp import app_log

    request_fields = None
    if role != "worker":
        from webapp.logs.context import request_fields
    app_log.configure(settings.data_dir, role, settings.log_level, settings.log_max_bytes, settings.log_backups,
                      request_fields=request_fields)


def register_extensions(app: "Flask") -> None:
    from webapp import models  # noqa: F401  (every table known to Flask-Migrate)
    from webapp.database import configure_postgresql, configure_sqlite
    from webapp.extensions import db

    db.init_app(app)
    if app.config["HAUL_ROLE"] in ("cli", "test"):
        # Only `flask db …` needs Flask-Migrate; Alembic costs the long-running processes ~11 MB.
        from flask_migrate import Migrate

        Migrate(app, db, directory=str(app.root_path + "/../migrations"))
    if app.config["HAUL_ROLE"] != "worker":
        # The worker serves no request: no sessions, CSRF, WebSockets or rate limits (~3 MB).
        register_web_extensions(app)

    with app.app_context():
        configure_sqlite(db.engine)
        configure_postgresql(db.engine)


def connect_worker_queue() -> None:
    """The services enqueue work for the download workers through this (see dispatch.WorkerQueue)."""
    from jobs.tasks import worker_queue
    from webapp.services.queue import dispatch

    dispatch.connect(worker_queue)


def register_web_extensions(app: "Flask") -> None:
    from webapp import reverse_proxy
    from webapp.extensions import csrf, limiter, login_manager, sock

    # First: its after-request hook must run after Flask-Login's (see the module).
    reverse_proxy.install(app, app.config["HAUL"].trusted_proxies)
    csrf.init_app(app)
    sock.init_app(app)
    limiter.init_app(app)
    # Haul's limits are all per-route decorators (sign-in), and the decorator checks its own
    # limit. The app-wide before_request check exists for default limits, which Haul does not
    # set: it cost ~0.25 ms on every request, sign-in or not. (tests: the 429s of both logins)
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."

    @login_manager.user_loader
    def load_user(session_id):
        from webapp.services.accounts.identity import user_of_session

        return user_of_session(session_id)


def register_blueprints(app: "Flask") -> None:
    from webapp.api import init_api
    from webapp.auth import bp as auth_bp
    from webapp.downloads import bp as downloads_bp
    from webapp.guest import bp as guest_bp
    from webapp.health import bp as health_bp
    from webapp.history import bp as history_bp
    from webapp.invites import bp as invites_bp
    from webapp.live_api import bp as live_api_bp
    from webapp.logs import bp as logs_bp
    from webapp.queue import bp as queue_bp
    from webapp.settings import bp as settings_bp
    from webapp.sharing import bp as sharing_bp
    from webapp.subscriptions import bp as subscriptions_bp
    from webapp.stats import bp as stats_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(queue_bp)
    app.register_blueprint(history_bp)
    app.register_blueprint(settings_bp)
    app.register_blueprint(downloads_bp)
    app.register_blueprint(invites_bp)
    app.register_blueprint(subscriptions_bp)
    app.register_blueprint(stats_bp)
    app.register_blueprint(guest_bp)
    app.register_blueprint(sharing_bp)
    app.register_blueprint(logs_bp)
    init_api(app)  # /api/v1 with its OpenAPI document (flask-smorest) and /api/docs
    app.register_blueprint(health_bp)
    app.register_blueprint(live_api_bp, url_prefix="/api/v1")

    from webapp import templating
    from webapp.streams import check_websocket_room
    from webapp.views import forbid_framing, vary_on_htmx

    templating.register(app)

    app.before_request(check_websocket_room)
    app.after_request(vary_on_htmx)
    app.after_request(forbid_framing)


def register_error_handlers(app: "Flask") -> None:
    from webapp.error_pages import register

    register(app)


def register_commands(app: "Flask") -> None:
    from webapp.commands import register

    register(app)
    if app.config["HAUL_ROLE"] in ("cli", "test"):
        # The rescan's command runs the worker's media probe (jobs/library_rescan.py), which the
        # web's modules may not import; only a `flask …` command needs it.
        from jobs.library_rescan import library_cli

        app.cli.add_command(library_cli)


def start_web_services(app: "Flask") -> None:
    """The web process's event hub (one poller of the event log for every live client) and,
    in the gevent server, its submission writer (group commit, webapp/services/queue/submit_batcher.py)."""
    from webapp.database import under_gevent
    from webapp.services.queue.events import EventHub, wake_hub_after_commits
    from webapp.services.queue.submissions import write_batch
    from webapp.services.queue.submit_batcher import SubmitBatcher

    app.extensions["haul_event_hub"] = EventHub(app)
    wake_hub_after_commits()
    if under_gevent():
        app.extensions["haul_submit_batcher"] = SubmitBatcher(app, write_batch)


def announce_setup(app: "Flask") -> None:
    """Create the env-configured admin, or log the setup code while nobody can sign in yet."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from webapp.services.accounts.setup import bootstrap

    settings = app.config["HAUL"]
    with app.app_context():
        try:
            code = bootstrap(settings)
        except (OperationalError, ProgrammingError):
            log.warning("The database has no tables yet: run `flask --app wsgi db upgrade` (make run does)")
            return
    if code:
        log.warning(
            "No users yet. Open http://%s:%s/setup and enter the setup code %s to create the first admin.",
            settings.host, settings.port, code,
        )
