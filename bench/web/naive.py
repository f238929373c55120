"""Naive service baseline: Flask endpoints creating and saving the minimal aggregate.

No validation, no policies, no auth, no idempotency: what the ledger's HTTP path
costs beyond this is what our code adds. Store settings come from the environment.
"""

from __future__ import annotations

import os
from uuid import UUID

from flask import Flask, jsonify, request

from bench.bare import BareStore

app = Flask(__name__)
_store: list[BareStore] = []


def store() -> BareStore:
    """One application per worker process, built on first use (nothing at import time)."""
    if not _store:
        _store.append(BareStore(dict(os.environ)))
    return _store[0]


@app.post("/things")
def create():
    thing_id = store().create(request.get_json()["name"])
    return jsonify({"id": str(thing_id), "version": 1}), 201


@app.post("/things/<uuid:thing_id>/touches")
def touch(thing_id: UUID):
    version = store().touch(thing_id, request.get_json()["note"])
    return jsonify({"id": str(thing_id), "version": version}), 201


@app.get("/things/<uuid:thing_id>")
def get(thing_id: UUID):
    thing = store().repository.get(thing_id)
    return jsonify({"id": str(thing.id), "version": thing.version, "touches": thing.touches})
