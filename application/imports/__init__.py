"""Bulk imports of carrier scans and marketplace return data, as ledger commands."""
