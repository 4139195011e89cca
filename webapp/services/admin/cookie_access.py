"""Who may have their jobs use each site's cookie file.

A cookies.txt signs Haul in on a site as the person whose browser it came from, so it is theirs
to share. By default (and for every file uploaded before this choice existed) only admins'
jobs use it. An admin may open it to every user, or to the users they choose. A guest's job
never uses any: guests are strangers with a link.

The choice is kept in the database (`cookie_access`, `cookie_access_users`) beside the files on
disk; a chosen user's row goes when the user is deleted, and the site's rows when its file is.
The worker decides per job, when the job starts, from the submission's trust and submitter.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select

from webapp.core.vocabulary import ADMIN_TRUST, USER_TRUST
from webapp.errors import Invalid, NotFound
from webapp.extensions import db
from webapp.models import CookieAccess, User
from webapp.services.admin import cookies

ADMINS, ALL_USERS, CHOSEN = "admins", "users", "chosen"
CHOICES = (ADMINS, ALL_USERS, CHOSEN)
LABELS = {ADMINS: "Admins only", ALL_USERS: "Admins and every user", CHOSEN: "Admins and chosen users"}


@dataclass(frozen=True)
class Access:
    """Who may use one site's cookie file: `who` is one of CHOICES; `users` the chosen (id, username)."""

    who: str = ADMINS
    users: tuple[tuple[int, str], ...] = ()

    @property
    def user_ids(self) -> frozenset[int]:
        return frozenset(user_id for user_id, _name in self.users)

    def label(self) -> str:
        """In words, for the Settings page: "Admins only", "Admins, alice and bob", ..."""
        if self.who == CHOSEN and self.users:
            names = [name for _id, name in self.users]
            return "Admins, " + (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0])
        return LABELS[self.who]


def _access_of(row: CookieAccess | None) -> Access:
    if row is None:
        return Access()
    if row.all_users:
        return Access(ALL_USERS)
    users = tuple((user.id, user.username) for user in row.users)
    return Access(CHOSEN, users) if users else Access()


def access_of(site: str) -> Access:
    """Who may use the cookie file of `site` (a normalised site name)."""
    return _access_of(db.session.get(CookieAccess, site))


def all_access() -> dict[str, Access]:
    """Every site's choice that is not the default, by site."""
    return {row.site: _access_of(row) for row in db.session.scalars(select(CookieAccess))}


def set_access(data_dir: Path, site: str, who: str, user_ids=()) -> Access:
    """Store who may use `site`'s cookie file. `user_ids` count only for CHOSEN.

    NotFound when the site has no cookie file; Invalid for an unknown choice, an unknown or
    admin account among the users (admins may always), or CHOSEN with nobody chosen.
    """
    site = cookies.normalise_site(site)
    if not (cookies.cookies_dir(data_dir) / f"{site}.txt").is_file():
        raise NotFound(f"There is no cookie file for {site}", error_code="cookies_not_found")
    if who not in CHOICES:
        raise Invalid(f"Who may use the cookies must be one of {', '.join(CHOICES)}", error_code="invalid_access")
    chosen: list[User] = []
    if who == CHOSEN:
        ids = _whole_numbers(user_ids)
        chosen = list(db.session.scalars(select(User).where(User.id.in_(ids)))) if ids else []
        found = {user.id for user in chosen}
        if not ids:
            raise Invalid("Choose at least one user, or choose admins only", error_code="invalid_access")
        if found != ids:
            missing = ", ".join(str(i) for i in sorted(ids - found))
            raise Invalid(f"No such user: {missing}", error_code="invalid_access")
        admins = sorted(user.username for user in chosen if user.is_admin)
        if admins:
            raise Invalid(f"{', '.join(admins)} is an admin, and admins may always use the cookies",
                          error_code="invalid_access")
    db.session.execute(delete(CookieAccess).where(CookieAccess.site == site))
    if who != ADMINS:
        db.session.add(CookieAccess(site=site, all_users=who == ALL_USERS, users=chosen))
    db.session.commit()
    return access_of(site)


def _whole_numbers(values) -> set[int]:
    numbers = set()
    for value in values or ():
        if isinstance(value, bool):
            raise Invalid("Users are named by their id (a whole number)", error_code="invalid_access")
        try:
            numbers.add(int(value))
        except (TypeError, ValueError):
            raise Invalid("Users are named by their id (a whole number)", error_code="invalid_access") from None
    return numbers


def store(data_dir: Path, data: bytes, site: str | None = None) -> cookies.CookieFile:
    """Keep an uploaded cookies.txt (cookies.store). A replaced file keeps its site's choice;
    a new one starts as admins only, whatever a file of that name once had."""
    before = {stored.site for stored in cookies.list_files(data_dir)}
    stored = cookies.store(data_dir, data, site)
    if stored.site not in before:
        _forget(stored.site)
    return stored


def remove(data_dir: Path, site: str) -> None:
    """Delete the cookie file of `site` and who may use it (NotFound when there is none)."""
    cookies.delete(data_dir, site)
    _forget(cookies.normalise_site(site))


def _forget(site: str) -> None:
    db.session.execute(delete(CookieAccess).where(CookieAccess.site == site))
    db.session.commit()


def may_use(access: Access, submission) -> bool:
    """Whether the job of `submission` may run with a cookie file that `access` governs."""
    if submission.trust == ADMIN_TRUST:
        return True
    if submission.trust != USER_TRUST or submission.user_id is None:
        return False  # guests never; a user's job whose account is gone neither
    if access.who == ALL_USERS or submission.user_id in access.user_ids:
        return True
    # An admin's token limited to sending links submits as a user (it reaches no private
    # address), but the jobs are still the admin's own: "admins only" includes them.
    user = db.session.get(User, submission.user_id)
    return user is not None and user.is_admin


def file_for_job(data_dir: Path, domain: str | None, submission) -> Path | None:
    """The cookie file a job runs with: the site's nearest file its submitter may use, or None."""
    for path in cookies.files_for(data_dir, domain):
        if may_use(access_of(path.name.removesuffix(".txt")), submission):
            return path
    return None
