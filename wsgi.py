"""The WSGI entry point: gunicorn serves `wsgi:app`; `flask --app wsgi …` runs commands."""
import sys

from webapp.config import ConfigError

try:
    from webapp import create_app

    app = create_app()
except ConfigError as exc:  # one line naming the variable, no traceback
    print(f"haul: {exc}", file=sys.stderr)
    sys.exit(2)
