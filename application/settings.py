"""The service's settings: one typed, validated object, built once from the environment.

This is the only module that reads `os.environ` (in `load`). Everything else is handed a
`Settings` (or the mapping it validated, for the library's own factories) by a
composition root: `create_app` for the web process, the CLI's commands for theirs.
A mistake is one clear line naming the variable, at start-up, never a traceback
later or a silent fallback.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.errors import InvalidValueError
from domain.money import currency_code
from domain.policies import PolicySettings
from domain.policies.base import DEFAULT_LARGE_REFUND_THRESHOLDS

SQLITE = "eventsourcing.sqlite"
POSTGRES = "eventsourcing.postgres"
POPO = "eventsourcing.popo"
PERSISTENCE_MODULES = (SQLITE, POSTGRES, POPO)
DEFAULT_SQLITE_PATH = "var/ledger.sqlite3"
DEFAULT_KEY_FILE = "var/personal-data.key"
DEFAULT_SECRET_FILE = "var/web-secret.key"
THRESHOLD_PREFIX = "LARGE_REFUND_THRESHOLD_"
MAKE_KEY = ("make one with: python3 -c 'import base64, os; "
            "print(base64.urlsafe_b64encode(os.urandom(32)).decode())'")

# Every variable of the project's own, with what it holds; the library's own variables
# (SQLITE_*, POSTGRES_*, CREATE_TABLE, AGGREGATE_CACHE_*, ...) pass through to it.
OWN_VARIABLES: dict[str, str] = {
    "PERSISTENCE_MODULE": "eventsourcing.sqlite, eventsourcing.postgres or eventsourcing.popo",
    "RETURNS_LEDGER_DEBUG": "a boolean",
    "GROUP_COMMIT": "a boolean",
    "COMMAND_CACHE": "a boolean",
    "AUDIT_CHAIN_CACHE_MAXSIZE": "a whole number >= 0",
    "AUDIT_SIGNING_KEY": "the audit log's Ed25519 seed, 32 bytes in URL-safe base64",
    "AUDIT_SIGNING_KEY_FILE": "a path",
    "AUDIT_ORIGIN": "the audit log's name, e.g. ledger.example.com/audit",
    "AUDIT_CHECKPOINT_SECONDS": "seconds (>= 0; 0: no periodic checkpoints)",
    "API_KEY_CACHE_SECONDS": "seconds (>= 0)",
    "PROJECTION_POLL_INTERVAL": "seconds (> 0)",
    "PROJECTION_BATCH_SIZE": "a whole number >= 1",
    "PROJECTION_LINGER_MS": "milliseconds (>= 0; 0: a batch is applied as soon as it runs dry)",
    "VIEWS_SQLITE_DBNAME": "a path",
    "VIEWS_POSTGRES_SCHEMA": "a schema name",
    "PERSONAL_DATA_KEY": "32 bytes in URL-safe base64",
    "PERSONAL_DATA_KEY_FILE": "a path",
    "PERSONAL_DATA_PREVIOUS_KEYS": "master keys before a rotation, comma-separated",
    "POSTGRES_READ_HOST": "the streaming replica serving queries",
    "POSTGRES_READ_PORT": "the replica's port",
    "POSTGRES_READ_DBNAME": "the replica's database name",
    "POSTGRES_READ_USER": "the replica's user",
    "POSTGRES_READ_PASSWORD": "the replica's password",
    "POSTGRES_READ_WAIT_SECONDS": "seconds (>= 0)",
    "SECRET_KEY_PREVIOUS": "web session secrets before a rotation, comma-separated",
    "WEB_SECRET_KEY_FILE": "a path",
    "SECRET_KEY": "the web session secret",
    "PROJECTIONS_IN_PROCESS": "a boolean",
    "RECONCILIATIONS_IN_PROCESS": "a boolean",
    "RECONCILIATION_SPOOL_DIR": "a directory",
    "VIEW_WAIT_SECONDS": "seconds (>= 0)",
    "HOLD_EXPIRY_INTERVAL": "seconds (> 0)",
    "WEB_SESSION_HOURS": "hours",
    "WEB_INSECURE_COOKIE": "a boolean",
    "POLICY_HOLD_DAYS": "a whole number of days",
    "POLICY_MAX_DELIVERY_ATTEMPTS": "a whole number",
    "POLICY_RETURN_WINDOW_DAYS": "a whole number of days",
    "POLICY_READY_TO_SHIP_HOURS": "a whole number of hours",
    "POLICY_TRACKING_REQUIRED_ABOVE_EUR": "a decimal amount",
    "POLICY_RETURN_REQUEST_WINDOW_DAYS": "a whole number of days",
    "POLICY_RETURN_REPLY_BUSINESS_DAYS": "a whole number of business days",
    "POLICY_REFUND_BUSINESS_DAYS": "a whole number of business days",
    "WEBHOOK_ALLOW_LOOPBACK": "a boolean",
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "a boolean",
    "WEBHOOK_TIMEOUT_SECONDS": "seconds (> 0)",
    "WEBHOOK_DISABLE_AFTER_HOURS": "hours (> 0)",
    "WEBHOOK_RETRY_BASE_SECONDS": "seconds (> 0)",
    "WEBHOOK_RETRY_MAX_SECONDS": "seconds (> 0)",
    "WEBHOOK_SECRET_GRACE_HOURS": "hours (>= 0)",
    "WEBHOOK_CONCURRENCY": "a whole number >= 1",
    "WEBHOOK_IN_PROCESS": "a boolean",
    "IMPORTS_IN_PROCESS": "a boolean",
    "IMPORT_SPOOL_DIR": "a directory",
    "IMPORT_MAX_BYTES": "a whole number of bytes >= 1",
}
# Prefixes that only this project uses: an unknown name with one of them is a mistake.
OWN_PREFIXES = ("POLICY_", "PROJECTION_", "VIEWS_", "PERSONAL_DATA_", "AUDIT_CHAIN_",
                "API_KEY_", "COMMAND_", "GROUP_", "WEBHOOK_", "POSTGRES_READ_")
POLICY_FIELDS = {"POLICY_HOLD_DAYS": ("hold_days", int),
                 "POLICY_MAX_DELIVERY_ATTEMPTS": ("max_delivery_attempts", int),
                 "POLICY_RETURN_WINDOW_DAYS": ("return_window_days", int),
                 "POLICY_READY_TO_SHIP_HOURS": ("ready_to_ship_hours", int),
                 "POLICY_TRACKING_REQUIRED_ABOVE_EUR": ("tracking_required_above_eur",
                                                        Decimal),
                 "POLICY_RETURN_REQUEST_WINDOW_DAYS": ("return_request_window_days", int),
                 "POLICY_RETURN_REPLY_BUSINESS_DAYS": ("return_reply_business_days", int),
                 "POLICY_REFUND_BUSINESS_DAYS": ("refund_business_days", int)}
# Read where they are used (the views, the workers, the audit timer), checked here once.
CHECKED_FLAGS = ("RETURNS_LEDGER_DEBUG", "PROJECTIONS_IN_PROCESS", "RECONCILIATIONS_IN_PROCESS",
                 "IMPORTS_IN_PROCESS")
CHECKED_NUMBERS: dict[str, tuple[type, float | None, float | None]] = {
    # name: (kind, at least, more than)
    "VIEW_WAIT_SECONDS": (float, 0, None),
    "HOLD_EXPIRY_INTERVAL": (float, None, 0),
    "AUDIT_CHECKPOINT_SECONDS": (float, 0, None),
    "IMPORT_MAX_BYTES": (int, 1, None),
}
TRUE = frozenset({"y", "yes", "t", "true", "on", "1"})
FALSE = frozenset({"n", "no", "f", "false", "off", "0"})


class SettingsError(ValueError):
    """A setting is wrong; the message names the variable and what it must hold."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"{name}: {detail}")
        self.name = name


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise SettingsError(name, f"{env[name]!r} is not a boolean (yes/no, true/false, 1/0)")


def _number(env: Mapping[str, str], name: str, kind: type, default: Any,
            minimum: float | None = None, above: float | None = None) -> Any:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except (ValueError, InvalidOperation):
        what = OWN_VARIABLES.get(name) or ("a decimal amount" if kind is Decimal
                                           else f"a {kind.__name__}")
        raise SettingsError(name, f"{raw!r} is not {what}") from None
    if isinstance(value, Decimal) and not value.is_finite():
        raise SettingsError(name, f"{raw!r} is not a finite number")
    if minimum is not None and value < minimum:
        raise SettingsError(name, f"must be at least {minimum}, not {raw}")
    if above is not None and value <= above:
        raise SettingsError(name, f"must be more than {above}, not {raw}")
    return value


def _thresholds(env: Mapping[str, str]) -> dict[str, Decimal]:
    """AM-4's thresholds: the defaults, and LARGE_REFUND_THRESHOLD_<ISO 4217 code>=amount."""
    thresholds = dict(DEFAULT_LARGE_REFUND_THRESHOLDS)
    for name, raw in env.items():
        if not name.startswith(THRESHOLD_PREFIX) or not raw:
            continue
        code = name.removeprefix(THRESHOLD_PREFIX)
        try:
            currency_code(code)
        except InvalidValueError as error:
            raise SettingsError(name, f"{code!r} is not a currency the ledger knows "
                                      f"({error.detail.split(': ', 1)[-1]})") from None
        amount = _number(env, name, Decimal, None, minimum=0)
        thresholds[code] = amount
    return thresholds


def _check_names(env: Mapping[str, str]) -> None:
    """An unknown name with one of the project's prefixes, or one a letter or two away
    from a known name, is a mistake: say so rather than silently use a default."""
    known = set(OWN_VARIABLES)
    for name in env:
        if name in known or name.startswith(THRESHOLD_PREFIX):
            continue
        if name.startswith(OWN_PREFIXES):
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise SettingsError(name, f"is not a setting of the ledger{hint}")
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.88)
        if close:
            raise SettingsError(name, f"is not a setting of the ledger; did you mean "
                                      f"{close[0]}?")


def _check_replica(env: Mapping[str, str], module: str) -> None:
    """POSTGRES_READ_*: a streaming replica for queries, on PostgreSQL only."""
    given = sorted(name for name in env if name.startswith("POSTGRES_READ_") and env[name])
    if not given:
        return
    if module != POSTGRES:
        raise SettingsError(given[0], "a read replica is for PostgreSQL "
                            "(PERSISTENCE_MODULE=eventsourcing.postgres)")
    if "POSTGRES_READ_HOST" not in given:
        raise SettingsError(given[0], "needs POSTGRES_READ_HOST, the replica's host")
    _number(env, "POSTGRES_READ_PORT", int, None, minimum=1)
    _number(env, "POSTGRES_READ_WAIT_SECONDS", float, None, minimum=0)


@dataclass(frozen=True)
class WebhookSettings:
    """Where webhooks may go and how their delivery is retried (docs: README, Webhooks)."""

    allow_loopback: bool = False  # http:// and 127.0.0.0/8, ::1 (development only)
    allow_private_networks: bool = False  # 10/8, 172.16/12, 192.168/16, fc00::/7 ...
    timeout_seconds: float = 10.0  # per request: connecting, sending, the whole answer
    disable_after_hours: float = 72.0  # failing this long without a success: disabled
    retry_base_seconds: float = 5.0  # the first retry's delay; doubled for each next one
    retry_max_seconds: float = 3600.0  # no retry waits longer (before jitter)
    secret_grace_hours: float = 24.0  # a rotated-out secret still signs this long
    concurrency: int = 16  # requests in flight at once, over all endpoints
    in_process: bool = True  # the API process runs the dispatcher (SQLite default)


def _webhooks(env: Mapping[str, str], module: str) -> WebhookSettings:
    base = _number(env, "WEBHOOK_RETRY_BASE_SECONDS", float, 5.0, above=0)
    ceiling = _number(env, "WEBHOOK_RETRY_MAX_SECONDS", float, 3600.0, above=0)
    if ceiling < base:
        raise SettingsError("WEBHOOK_RETRY_MAX_SECONDS",
                            f"must be at least WEBHOOK_RETRY_BASE_SECONDS ({base})")
    return WebhookSettings(
        allow_loopback=_flag(env, "WEBHOOK_ALLOW_LOOPBACK", False),
        allow_private_networks=_flag(env, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", False),
        timeout_seconds=_number(env, "WEBHOOK_TIMEOUT_SECONDS", float, 10.0, above=0),
        disable_after_hours=_number(env, "WEBHOOK_DISABLE_AFTER_HOURS", float, 72.0,
                                    above=0),
        retry_base_seconds=base, retry_max_seconds=ceiling,
        secret_grace_hours=_number(env, "WEBHOOK_SECRET_GRACE_HOURS", float, 24.0,
                                   minimum=0),
        concurrency=_number(env, "WEBHOOK_CONCURRENCY", int, 16, minimum=1),
        # The embedded default runs the dispatcher in the API process; on PostgreSQL run
        # `returns-ledger webhooks run` instead.
        in_process=_flag(env, "WEBHOOK_IN_PROCESS", module == SQLITE),
    )


@dataclass(frozen=True)
class Settings:
    """What the ledger, its views, its runners and its web app are configured with."""

    env: Mapping[str, str] = field(repr=False)
    persistence_module: str
    policies: PolicySettings
    group_commit: bool
    command_cache: bool
    chain_cache_size: int
    api_key_cache_seconds: float
    projection_poll_interval: float | None
    projection_batch_size: int | None
    projection_linger_ms: float
    personal_data_key: str | None
    personal_data_key_file: str
    web_secret_key: str | None
    web_secret_key_file: str
    webhooks: WebhookSettings = field(default_factory=lambda: WebhookSettings())

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Validate the whole environment once (pure: reads only `environ`)."""
        env = {str(k): str(v) for k, v in environ.items()}
        _check_names(env)
        module = env.setdefault("PERSISTENCE_MODULE", SQLITE).strip()
        if module not in PERSISTENCE_MODULES:
            close = difflib.get_close_matches(module, PERSISTENCE_MODULES, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise SettingsError("PERSISTENCE_MODULE", f"{module!r} is not one of "
                                f"{', '.join(PERSISTENCE_MODULES)}{hint}")
        env["PERSISTENCE_MODULE"] = module
        if module == SQLITE:
            env.setdefault("SQLITE_DBNAME", DEFAULT_SQLITE_PATH)
            env.setdefault("SQLITE_LOCK_TIMEOUT", "10")
        elif module == POSTGRES:
            if not (env.get("PERSONAL_DATA_KEY") or "").strip():
                raise SettingsError("PERSONAL_DATA_KEY", "is required on PostgreSQL: every "
                                    "host must seal personal data with the same key, so it "
                                    "cannot be a file each host makes for itself; "
                                    f"{MAKE_KEY}, and back it up with the database")
            env.setdefault("POSTGRES_HOST", "127.0.0.1")
            env.setdefault("POSTGRES_PORT", "5432")
            env.setdefault("POSTGRES_DBNAME", "returns_ledger")
            env.setdefault("POSTGRES_USER", "postgres")
            env.setdefault("POSTGRES_PASSWORD", "")
        # Aggregates are small; cache them so a command reads only the new events.
        env.setdefault("AGGREGATE_CACHE_MAXSIZE", "10000")
        _check_replica(env, module)
        for name in CHECKED_FLAGS:
            _flag(env, name, False)
        for name, (kind, least, more_than) in CHECKED_NUMBERS.items():
            _number(env, name, kind, None, minimum=least, above=more_than)
        policy_values = {attribute: _number(env, name, kind, None, minimum=0)
                         for name, (attribute, kind) in POLICY_FIELDS.items()}
        policies = PolicySettings(
            large_refund_thresholds=_thresholds(env),
            **{k: v for k, v in policy_values.items() if v is not None})
        return cls(
            env=env, persistence_module=module, policies=policies,
            group_commit=_flag(env, "GROUP_COMMIT", False),
            command_cache=_flag(env, "COMMAND_CACHE", True),
            chain_cache_size=_number(env, "AUDIT_CHAIN_CACHE_MAXSIZE", int, 10000, minimum=0),
            api_key_cache_seconds=_number(env, "API_KEY_CACHE_SECONDS", float, 1.0,
                                          minimum=0),
            projection_poll_interval=_number(env, "PROJECTION_POLL_INTERVAL", float, None,
                                             above=0),
            projection_batch_size=_number(env, "PROJECTION_BATCH_SIZE", int, None,
                                          minimum=1),
            projection_linger_ms=_number(env, "PROJECTION_LINGER_MS", float, 0.0, minimum=0),
            personal_data_key=env.get("PERSONAL_DATA_KEY") or None,
            personal_data_key_file=env.get("PERSONAL_DATA_KEY_FILE") or DEFAULT_KEY_FILE,
            web_secret_key=env.get("SECRET_KEY") or None,
            web_secret_key_file=env.get("WEB_SECRET_KEY_FILE") or DEFAULT_SECRET_FILE,
            webhooks=_webhooks(env, module),
        )

    @property
    def creates_tables(self) -> bool:
        """Whether the ledger creates missing tables (the library's CREATE_TABLE, default yes);
        the CLI's commands other than `db init` never do (interfaces/cli/store.py)."""
        return _flag(self.env, "CREATE_TABLE", True)

    def describe_store(self) -> str:
        """Where the event store is, in words a person can act on."""
        env = self.env
        if self.persistence_module == SQLITE:
            return f"the SQLite file {env['SQLITE_DBNAME']} (SQLITE_DBNAME)"
        if self.persistence_module == POSTGRES:
            schema = env.get("POSTGRES_SCHEMA") or "public"
            return (f"the PostgreSQL database {env['POSTGRES_DBNAME']!r} on "
                    f"{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}, schema {schema!r} "
                    "(POSTGRES_DBNAME, POSTGRES_HOST, POSTGRES_PORT, POSTGRES_SCHEMA)")
        return "memory (PERSISTENCE_MODULE=eventsourcing.popo): gone when the process ends"

    def with_env(self, overrides: Mapping[str, str]) -> Settings:
        """The same settings with some variables changed (validated again)."""
        return Settings.from_env({**self.env, **overrides})


def debugging() -> bool:
    """RETURNS_LEDGER_DEBUG=yes: the CLI prints a traceback beside its one-line error."""
    return (os.environ.get("RETURNS_LEDGER_DEBUG") or "").strip().lower() in TRUE


def load(overrides: Mapping[str, Any] | None = None) -> Settings:
    """The process environment, with `overrides` on top: the one reader of os.environ."""
    env = dict(os.environ)
    if overrides:
        env.update({k: str(v) for k, v in overrides.items() if v is not None})
    return Settings.from_env(env)


def settings_of(env: Settings | Mapping[str, Any] | None) -> Settings:
    """Settings as given, or loaded with `env` as overrides (tests, the library's runners)."""
    if isinstance(env, Settings):
        return env
    return load(env)
