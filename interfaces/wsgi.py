"""The WSGI entry point: `gunicorn interfaces.wsgi:app` from any directory, or `wsgi:app`
from the checkout (each worker builds its own ledger, lazily)."""

import sys

from application.settings import SettingsError
from interfaces.api import create_app

try:
    app = create_app()
except SettingsError as error:  # one line naming the variable, not a traceback per worker
    print(f"returns-ledger: configuration: {error}", file=sys.stderr)
    sys.exit(3)  # gunicorn stops at once when a worker cannot boot
