"""Flask extensions, instantiated here and bound to the app in create_app().

`db` is made at import. The web's own extensions — sign-in sessions, CSRF, WebSockets, rate
limits — are made on first use (PEP 562's module `__getattr__`): the worker imports this module
for `db` and never serves a request, and those packages would cost it ~3 MB.
Flask-Migrate is bound only for the CLI (see create_app), so it is not instantiated here.
"""
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


def _login_manager():
    from flask_login import LoginManager

    return LoginManager()


def _csrf():
    from flask_wtf.csrf import CSRFProtect

    return CSRFProtect()


def _sock():
    from flask_sock import Sock

    return Sock()


def _limiter():
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    return Limiter(key_func=get_remote_address, default_limits=[])


_MADE_ON_FIRST_USE = {"login_manager": _login_manager, "csrf": _csrf, "sock": _sock, "limiter": _limiter}


def __getattr__(name: str):
    make = _MADE_ON_FIRST_USE.get(name)
    if make is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    extension = make()
    globals()[name] = extension  # later lookups find it without coming here
    return extension
