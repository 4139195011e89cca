"""Flask extensions, instantiated here and bound to the app in create_app().

Flask-Migrate is bound only for the CLI (see create_app), so it is not instantiated here.
"""
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sock import Sock
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
sock = Sock()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
