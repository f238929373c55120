"""The WSGI entry point inside the package: `gunicorn interfaces.wsgi:app`, what
`returns-ledger serve` runs, so it serves from any directory (the checkout's `wsgi.py` is
importable only from the checkout). Each worker builds its own ledger, lazily."""

import sys

from application.settings import SettingsError
from interfaces.api import create_app

try:
    app = create_app()
except SettingsError as error:  # one line naming the variable, not a traceback per worker
    print(f"returns-ledger: configuration: {error}", file=sys.stderr)
    sys.exit(3)  # gunicorn stops at once when a worker cannot boot
