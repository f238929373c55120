"""Server-rendered pages for auditors, finance and sellers: `/web/`, signed in with an API key.

No JavaScript: forms, links and inline SVG drawn on the server. The same API keys, roles and
seller scope as the JSON API; another seller's parcel is a 404 here too.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from domain.errors import NotFoundError
from interfaces.web import session as web_session
from interfaces.web.format import FILTERS

PREFIX = "/web"
PUBLIC = frozenset({"web.sign_in", "web.static"})
UPLOAD_MAX_BYTES = 256 * 1024 * 1024  # a settlement file, as the API allows
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")

bp = Blueprint("web", __name__, url_prefix=PREFIX, template_folder="templates",
               static_folder="static")


@bp.record_once
def _setup(state: Any) -> None:
    web_session.configure(state.app)


@bp.app_template_global()
def csrf_token() -> str:
    return web_session.csrf_token()


for _name, _filter in FILTERS.items():
    bp.add_app_template_filter(_filter, _name)


@bp.before_request
def _guard() -> Any:
    """Who is signed in (else to the sign-in page), then the CSRF check of every POST."""
    if request.endpoint not in PUBLIC:
        key = web_session.signed_in()  # an open session on the server, an active key
        if key is None:
            return redirect(url_for("web.sign_in", next=_here()))
        g.api_key = key
    if request.method == "POST":
        if request.endpoint == "web.reconcile":
            request.max_content_length = UPLOAD_MAX_BYTES
        if not web_session.csrf_ok(request.form.get(web_session.CSRF_FIELD)):
            return page_error(400, "This form expired or did not come from this site: "
                                   "reload the page and send it again.")
    return None


def _here() -> str:
    return request.full_path.rstrip("?") if request.method == "GET" else url_for("web.home")


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "web.static":
        response.headers["Cache-Control"] = "no-store"
    return response


def page_error(status: int, detail: str) -> tuple[str, int]:
    return render_template("error.html", status=status, detail=detail), status


@bp.errorhandler(NotFoundError)
def _not_found(error: NotFoundError) -> tuple[str, int]:
    return page_error(404, "There is no such page, or it is not yours to see.")


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[str, int]:
    return page_error(error.code or 500, error.description or "")


from interfaces.web import finance, lists, pages  # noqa: E402,F401 - routes register on bp
