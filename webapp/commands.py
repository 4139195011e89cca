"""flask --app wsgi … commands: users, tokens, `serve` (web + worker together), `backup`, `restore`, `config`
and `db copy` (a SQLite install into PostgreSQL)."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select

from webapp import app_log, stack_lock
from webapp.config import without_password
from webapp.errors import HaulError
from webapp.extensions import db
from webapp.models import ApiToken, User
from webapp.services.accounts import identity as accounts
from webapp.services.accounts import setup
from webapp.services.admin import config_transfer
from webapp.services.admin import db_copy
from webapp.services.admin import restore as restoring
from webapp.services.admin.backup import BackupError, back_up, backup_folder
from webapp.services.notifications import launcher as notification_launcher
from webapp.supervisor import Child, Supervisor

users_cli = AppGroup("users", help="Manage user accounts.")
tokens_cli = AppGroup("tokens", help="Manage personal API tokens.")


def _user_named(username: str):
    user = db.session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))
    if user is None:
        raise click.ClickException(f"No user named {username!r}")
    return user


@users_cli.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Give the user the admin role.")
@click.password_option(help="The password (asked for when not given).")
def create_user_command(username, admin, password):
    """Create a user."""
    try:
        user = accounts.create_user(username, password, role="admin" if admin else "user")
    except HaulError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"Created {user.role} {user.username!r}.")


@tokens_cli.command("create")
@click.argument("username")
@click.option("--name", default="cli", show_default=True, help="A name to recognise the token by.")
def create_token_command(username, name):
    """Create a personal API token for USERNAME and print it (shown this once)."""
    user = _user_named(username)
    try:
        _, token = accounts.create_token(user, name)
    except HaulError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(token)


@tokens_cli.command("list")
@click.argument("username")
def list_tokens_command(username):
    """List USERNAME's tokens (never the tokens themselves)."""
    user = _user_named(username)
    rows = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)).all()
    for row in rows:
        state = "revoked" if row.revoked_at else "active"
        used = row.last_used_at.isoformat(timespec="seconds") if row.last_used_at else "never"
        click.echo(f"{row.id}\t{row.name}\t{row.prefix}…\t{state}\tlast used {used}")
    if not rows:
        click.echo(f"{user.username} has no tokens.")


@tokens_cli.command("revoke")
@click.argument("token_id", type=int)
def revoke_token_command(token_id):
    """Revoke the token with id TOKEN_ID (see `tokens list`)."""
    try:
        row = accounts.revoke_token(token_id)
    except HaulError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"Revoked token {row.id} ({row.name}).")


@click.command("serve")
@click.option("--only", type=click.Choice(["web", "worker"]), default=None,
              help="Run only the web server or only the worker (a host of a scale-out setup, docs/scale-out.md).")
def serve_command(only):
    """Run the web server (gunicorn + gevent) and the worker together until Ctrl-C.

    Either one that dies is started again (webapp/supervisor.py); a second `serve` on the same
    data dir refuses to start (webapp/stack_lock.py). With --only, one of them, supervised the
    same way: a web host or a worker host sharing PostgreSQL, Redis and the storage with others."""
    settings = current_app.config["HAUL"]
    try:
        lock_fd = stack_lock.hold(settings.data_dir)
    except stack_lock.AlreadyRunning as exc:
        click.echo(f"haul: {exc}", err=True)
        sys.exit(1)
    # The launcher writes a log file of its own (webapp/app_log.py: one file per process role),
    # apart from other `flask` commands'; its supervision lines go there too.
    app_log.configure(settings.data_dir, "launcher", settings.log_level, settings.log_max_bytes, settings.log_backups)
    launcher_log = app_log.file_logger("haul.launcher")  # the console has them from click already
    code = setup.bootstrap(settings)
    url = f"http://{settings.host}:{settings.port}"

    def announce_exit(name: str, how: str, gave_up: bool) -> None:
        """The worker died: admins' targets hear of it (sent by the next worker, or now when giving up)."""
        try:
            notification_launcher.worker_exited(name, how, gave_up, settings.thumbnail_dir)
        finally:
            db.session.remove()

    children = [
        Child("web", [sys.executable, "-m", "gunicorn", "-c", "python:webapp.gunicorn_conf", "wsgi:app"]),
        # A session of its own: the scheduler then weighs the worker apart from the web and
        # this launcher, at the lower priority HAUL_WORKER_NICE gives it (jobs/worker.py).
        Child("worker", [sys.executable, "-m", "jobs.worker"], new_session=True),
    ]
    supervisor = Supervisor(
        [child for child in children if only in (None, child.name)],
        env=dict(os.environ),
        pass_fds=(lock_fd,),
        log=lambda line: (click.echo(line, err=True), launcher_log.info(line)),
        on_exit=announce_exit,
    )
    supervisor.install_signal_handlers()
    supervisor.start()
    if only == "worker":
        click.echo(f"\n  Haul's worker is running (data in {settings.data_dir}, library in {settings.storage_root})")
    else:
        click.echo(f"\n  Haul is running at {url}  (data in {settings.data_dir})")
        if code:
            click.echo(f"  First run: open {url}/setup and enter the setup code {code}")
        else:
            click.echo(f"  Sign in at {url}/login")
    click.echo("  Press Ctrl-C to stop.\n")
    exit_code = supervisor.supervise()
    click.echo("Haul stopped.")
    sys.exit(exit_code)


@click.command("backup")
@click.argument("destination", required=False, type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def backup_command(destination):
    """Copy the database and the secret key into DESTINATION (default: HAUL_BACKUP_DIR, DATA_DIR/backups).

    Safe while Haul runs. The library is plain files: back it up with your usual tool."""
    settings = current_app.config["HAUL"]
    try:
        made = back_up(settings, destination or backup_folder(settings))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Database: {made.database} ({made.database_bytes / 1e6:.1f} MB)")
    if made.secret_key:
        click.echo(f"Secret key: {made.secret_key} (keep it private: it signs sessions and invite links)")
    else:
        click.echo("Secret key: set by HAUL_SECRET_KEY, not copied; keep that value with the backup.")
    click.echo(f"The library ({settings.storage_root}) is plain files: copy it with rsync, restic or borg.")


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.confirmation_option(prompt="Replace the database with this backup? (the current one is kept beside the backups)")
@with_appcontext
def restore_command(file):
    """Restore the database from FILE (a backup's .db, or the .tar a download gave).

    Safe while Haul runs: the queue is held, the backup checked and migrated forward, the current
    database kept in the backup folder (HAUL_BACKUP_DIR) as haul-before-restore-<time>.db. The secret key stays the current one."""
    try:
        result = restoring.restore_file(current_app.config["HAUL"], file)
    except HaulError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(result.as_dict()["message"])
    if result.requeued:
        click.echo(f"{result.requeued} running job(s) queued again.")


config_cli = AppGroup("config", help="Export or import Haul's configuration as one JSON document.")


@config_cli.command("export")
@click.argument("output", type=click.File("w"), default="-")
@click.option("--include-password-hashes", is_flag=True, help="Also users' and invites' password hashes.")
def config_export_command(output, include_password_hashes):
    """Write the configuration document to OUTPUT (default: standard output)."""
    document = config_transfer.export(current_app.config["HAUL"], include_password_hashes=include_password_hashes)
    json.dump(document, output, indent=2, sort_keys=True)
    output.write("\n")


@config_cli.command("import")
@click.argument("source", type=click.File("r"))
@click.option("--apply", "apply_it", is_flag=True, help="Apply it (without: only report what would change).")
def config_import_command(source, apply_it):
    """Check the document in SOURCE and report what it would change; with --apply, apply it (all or nothing)."""
    try:
        document = json.load(source)
        command_line = accounts.Principal(None, via_static_token=True)  # an admin, as the other commands
        report = config_transfer.import_document(current_app.config["HAUL"], document, command_line,
                                                 dry_run=not apply_it)
    except ValueError as exc:
        raise click.ClickException(f"Not JSON: {exc}") from None
    except HaulError as exc:
        raise click.ClickException(exc.detail) from None
    for section, counts in report["sections"].items():
        click.echo(f"{section}: {counts['created']} created, {counts['updated']} updated, "
                   f"{counts['unchanged']} unchanged, {counts['errors']} refused")
        for item in counts["items"]:
            if item["action"] == "error":
                click.echo(f"  {item['key']}: {item['error']}")
    if not report["valid"]:
        raise click.ClickException("Nothing was imported: fix the refused items first.")
    click.echo("Applied." if report["applied"] else "Dry run: nothing changed (add --apply).")


@click.command("copy")
@click.option("--to", "to_url", required=True, metavar="URL",
              help="The empty PostgreSQL database to fill: postgresql://user:password@host:5432/database")
@click.option("--from", "from_url", metavar="URL", help="The SQLite database to copy (default: HAUL_DATABASE_URL).")
@with_appcontext
def db_copy_command(to_url, from_url):
    """Copy this SQLite install's database into an empty PostgreSQL database, and verify it.

    Every table, ids kept, sequences set; each table's rows counted and checksummed on both sides.
    All in one transaction on the target: on any failure or mismatch it is left as it was.
    Stop Haul first: the copy refuses while `flask serve` runs on the data dir."""
    settings = current_app.config["HAUL"]
    source_url = from_url or settings.database_url
    try:
        source = db_copy.source_path(source_url)
        db_copy.target_url(to_url)
    except HaulError as exc:
        raise click.ClickException(exc.detail) from None
    # Held for the whole copy: a `flask serve` started meanwhile waits for it instead of writing
    # rows the copy would miss (webapp/stack_lock.py).
    lock_dirs = {settings.data_dir} | ({source.parent} if (source.parent / stack_lock.LOCK_FILE).exists() else set())
    held = []
    try:
        for folder in sorted(lock_dirs):
            try:
                held.append(stack_lock.hold(folder))
            except stack_lock.AlreadyRunning as exc:
                pid = f" (pid {exc.pid})" if exc.pid else ""
                raise click.ClickException(f"Haul is running on {exc.data_dir}{pid}: stop it first, then copy "
                                           "(a copy of a running Haul misses what it writes afterwards)") from None
        click.echo(f"Copying {source} into {without_password(to_url)} …", err=True)
        try:
            report = db_copy.copy_database(source_url, to_url, progress=_progress_printer())
        except HaulError as exc:
            raise click.ClickException(exc.detail) from None
    finally:
        for fd in held:
            os.close(fd)
    _print_copy_report(report)
    if not report.committed:
        raise click.ClickException("The copy did not verify (see the tables marked MISMATCH); it was rolled back "
                                   "and the target is as it was")


def _progress_printer():
    """A progress line at most every 5 s: a table of a million rows takes a while."""
    last = [time.monotonic()]

    def show(table: str, done: int, total: int) -> None:
        if time.monotonic() - last[0] >= 5:
            last[0] = time.monotonic()
            click.echo(f"  {done:,} of {total:,} rows copied (now: {table})", err=True)

    return show


def _print_copy_report(report) -> None:
    """One line per table: its rows, its checksum, the id its sequence is at, and the verdict."""
    width = max(len(check.name) for check in report.tables)
    click.echo(f"{'table':<{width}}  {'rows':>10}  {'sha256':<16}  {'sequence':>10}  verified")
    for check in report.tables:
        if check.ok:
            verdict = "ok"
        elif check.source_rows != check.target_rows:
            verdict = f"MISMATCH: {check.target_rows:,} rows in the target"
        else:
            verdict = f"MISMATCH: the target's checksum is {check.target_checksum[:16]}"
        sequence = report.sequences.get(check.name)
        at = f"{sequence[1]:,}" if sequence else "-"
        click.echo(f"{check.name:<{width}}  {check.source_rows:>10,}  {check.source_checksum[:16]:<16}  {at:>10}  {verdict}")
    for what, why in report.not_copied:
        click.echo(f"not copied: {what}: {why}")
    for what in report.cleared:
        click.echo(f"replaced: the target's {what} written by its migrations, by the source's")
    if report.committed:
        click.echo(f"Copied {report.rows:,} rows in {len(report.tables)} tables in {report.seconds:.1f} s, all verified "
                   f"(schema {report.revision}).")
        click.echo(f"Next: set HAUL_DATABASE_URL={report.target} (with its password) on every host and start Haul.")


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(serve_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(config_cli)
    if "migrate" in app.extensions:
        # Flask-Migrate's `db` group (only where Migrate is set up: the commands and the tests;
        # imported here, as Alembic costs the long-running processes ~11 MB).
        from flask_migrate.cli import db as db_group

        db_group.add_command(db_copy_command)
