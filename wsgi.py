"""The WSGI entry point: `gunicorn wsgi:app` from the checkout (each worker builds its own
ledger, lazily); `interfaces.wsgi` is the same app, importable from anywhere."""

from interfaces.wsgi import app

__all__ = ["app"]
