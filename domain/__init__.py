"""The returns domain: aggregates, events, value objects and platform rules.

Pure Python: no Flask, no database, no clock reads. Time comes in as arguments.
"""
