"""Bearer API keys: a role per key and a seller scope; one seller never sees another's."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import abort, g, request

from application.access import ApiKeyView
from domain.api_key import ALL_SELLERS_ROLES, Role
from domain.errors import ParcelNotFoundError, ReturnAddressNotFoundError
from interfaces.api.ledger import ledger

# What each kind of endpoint needs: auditors only read, clients never approve (AM-4).
READ = frozenset(Role)
WRITE = frozenset({Role.CLIENT, Role.ADMIN})
REFUND = frozenset({Role.CLIENT, Role.FINANCE, Role.ADMIN})
APPROVE = frozenset({Role.FINANCE})

BEARER: dict[str, list[str]] = {"bearerAuth": []}


def requires(roles: frozenset[Role]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Authenticate the bearer key (401) and check its role (403) before anything else."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = authenticate()
            if Role(key.role) not in roles:
                abort(403, f"a {key.role} key may not do this")
            return view(*args, **kwargs)

        return wrapper

    return decorate


def authenticate() -> ApiKeyView:
    """The caller's active key, from `Authorization: Bearer <key>`."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    key = ledger().authenticate(token.strip()) if scheme.lower() == "bearer" else None
    if key is None:
        abort(401, "send a valid API key as 'Authorization: Bearer <key>'")
    g.api_key = key
    return key


def caller() -> ApiKeyView:
    return g.api_key


def actor() -> str:
    """What events record as the actor: the key's owner (a person) and the key
    (`person:<owner>/key:<key id>`), else the key id."""
    return caller().actor


def sees_all() -> bool:
    return Role(caller().role) in ALL_SELLERS_ROLES


def check_seller(seller_id: str) -> None:
    """A seller named in a request must be the key's own (403 otherwise)."""
    if not sees_all() and seller_id != caller().seller_id:
        abort(403, "this key works for another seller")


def check_parcel(parcel_id: Any) -> Any:
    """The parcel, if it exists and the key may see it; another seller's parcel is a 404."""
    return check_parcel_view(parcel_id, ledger().get_parcel(parcel_id))


def check_parcel_view(parcel_id: Any, view: Any) -> Any:
    """The loaded parcel, if the key may see it; another seller's parcel is a 404."""
    if not sees_all() and view.seller_id != caller().seller_id:
        raise ParcelNotFoundError(parcel_id)
    return view


def check_address(address_id: Any) -> Any:
    """The return address, if the key may see it (404 otherwise)."""
    view = ledger().get_return_address(address_id)
    if not sees_all() and view.seller_id != caller().seller_id:
        raise ReturnAddressNotFoundError(address_id)
    return view
