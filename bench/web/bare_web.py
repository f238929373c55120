"""Bare web baseline: one Flask app with one JSON POST endpoint, nothing behind it."""

from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/echo")
def echo():
    """Answer the posted JSON's size: parse, serialise, nothing stored."""
    body = request.get_json()
    return jsonify({"received": len(body)}), 201


@app.get("/echo")
def echo_get():
    return jsonify({"ok": True})
