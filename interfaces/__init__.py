"""Edges of the ledger: the HTTP API and the command-line interface."""
