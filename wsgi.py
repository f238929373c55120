"""The WSGI entry point: `gunicorn wsgi:app` (each worker builds its own ledger, lazily)."""

from interfaces.api import create_app

app = create_app()
