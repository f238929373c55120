"""`gunicorn wsgi:app` from the checkout, as deployments written for it run; the entry point
itself is interfaces/wsgi.py, which `returns-ledger serve` uses from any directory."""

from interfaces.wsgi import app

__all__ = ["app"]
