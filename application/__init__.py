"""Use cases: the ReturnsLedger application and its configuration."""
