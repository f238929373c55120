"""Settings: one validated object; every mistake is one line naming the variable."""

from __future__ import annotations

from decimal import Decimal

import pytest

from application.settings import Settings, SettingsError

BASE = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": "x.sqlite3"}


def refused(**env: str) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**BASE, **env})
    return caught.value


def test_defaults_are_the_documented_ones() -> None:
    settings = Settings.from_env({})
    assert settings.persistence_module == "eventsourcing.sqlite"
    assert settings.env["SQLITE_DBNAME"] == "var/ledger.sqlite3"
    assert settings.command_cache is True and settings.group_commit is False
    assert settings.policies.hold_days == 14
    assert settings.policies.large_refund_thresholds["EUR"] == Decimal("500")


def test_am4_threshold_of_a_known_currency_is_read_exactly() -> None:
    settings = Settings.from_env({**BASE, "LARGE_REFUND_THRESHOLD_MYR": "100.50"})
    assert settings.policies.large_refund_thresholds["MYR"] == Decimal("100.50")


def test_am4_threshold_of_an_unknown_currency_is_refused() -> None:
    error = refused(LARGE_REFUND_THRESHOLD_XYZ="100")
    assert error.name == "LARGE_REFUND_THRESHOLD_XYZ" and "XYZ" in str(error)


@pytest.mark.parametrize("raw", ["ten", "1,5", "NaN", "Infinity", "-5"])
def test_am4_threshold_that_is_no_decimal_amount_is_refused(raw: str) -> None:
    assert refused(LARGE_REFUND_THRESHOLD_EUR=raw).name == "LARGE_REFUND_THRESHOLD_EUR"


def test_am4_threshold_refusal_says_what_it_must_hold() -> None:
    assert str(refused(LARGE_REFUND_THRESHOLD_EUR="1,5")) == (
        "LARGE_REFUND_THRESHOLD_EUR: '1,5' is not a decimal amount")


BOOLEANS = ["GROUP_COMMIT", "COMMAND_CACHE", "WEBHOOK_IN_PROCESS", "PROJECTIONS_IN_PROCESS",
            "RECONCILIATIONS_IN_PROCESS", "IMPORTS_IN_PROCESS", "RETURNS_LEDGER_DEBUG"]


@pytest.mark.parametrize("name", BOOLEANS)
def test_a_boolean_that_is_no_boolean_is_refused(name: str) -> None:
    error = refused(**{name: "maybe"})
    assert error.name == name and "'maybe'" in str(error)


@pytest.mark.parametrize("name", BOOLEANS)
def test_a_boolean_setting_takes_yes_and_no(name: str) -> None:
    Settings.from_env({**BASE, name: "yes"})
    Settings.from_env({**BASE, name: "no"})


@pytest.mark.parametrize(("name", "raw"), [
    ("VIEW_WAIT_SECONDS", "five"), ("VIEW_WAIT_SECONDS", "-1"),
    ("HOLD_EXPIRY_INTERVAL", "a minute"), ("HOLD_EXPIRY_INTERVAL", "0"),
    ("AUDIT_CHECKPOINT_SECONDS", "1m"), ("IMPORT_MAX_BYTES", "1GB"),
    ("IMPORT_MAX_BYTES", "0")])
def test_a_number_read_later_is_checked_at_start_up(name: str, raw: str) -> None:
    assert refused(**{name: raw}).name == name


def test_tt2_hold_days_must_be_a_whole_number() -> None:
    assert refused(POLICY_HOLD_DAYS="two weeks").name == "POLICY_HOLD_DAYS"


def test_tt7_return_window_setting_reaches_the_policies() -> None:
    settings = Settings.from_env({**BASE, "POLICY_RETURN_WINDOW_DAYS": "7"})
    assert settings.policies.return_window_days == 7


def test_an_unknown_variable_with_the_project_prefix_is_refused_with_a_hint() -> None:
    error = refused(POLICY_HOLD_DAY="10")
    assert error.name == "POLICY_HOLD_DAY" and "POLICY_HOLD_DAYS" in str(error)


def test_a_misspelt_persistence_module_value_is_refused() -> None:
    error = refused(PERSISTENCE_MODULE="eventsourcing.postgre")
    assert error.name == "PERSISTENCE_MODULE" and "eventsourcing.postgres" in str(error)


def test_a_misspelt_variable_name_does_not_fall_back_to_sqlite_silently() -> None:
    error = refused(PERSISTANCE_MODULE="eventsourcing.postgres")
    assert error.name == "PERSISTANCE_MODULE" and "PERSISTENCE_MODULE" in str(error)


def test_other_programs_variables_are_left_alone() -> None:
    Settings.from_env({**BASE, "PATH": "/bin", "HOME": "/root", "POSTGRES_POOL_SIZE": "5",
                       "TRACKING_CREATE_TABLE": "yes", "CI": "true"})


def test_the_ledger_refuses_to_start_on_a_bad_setting(tmp_path) -> None:
    from application.ledger import ReturnsLedger

    with pytest.raises(SettingsError, match="GROUP_COMMIT"):
        ReturnsLedger({**BASE, "SQLITE_DBNAME": str(tmp_path / "l.sqlite3"),
                       "GROUP_COMMIT": "perhaps"})


def test_postgres_needs_the_personal_data_key_and_says_how_to_make_one() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"PERSISTENCE_MODULE": "eventsourcing.postgres"})
    assert caught.value.name == "PERSONAL_DATA_KEY" and "urandom(32)" in str(caught.value)


def test_postgres_web_app_needs_a_shared_secret_key() -> None:
    from interfaces.api import create_app
    from tests.conftest import TEST_PERSONAL_DATA_KEY

    with pytest.raises(SettingsError, match="SECRET_KEY"):
        create_app({"PERSISTENCE_MODULE": "eventsourcing.postgres",
                    "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY, "TESTING": True})


def test_key_files_made_at_once_by_many_processes_agree_on_one_key(tmp_path) -> None:
    """Workers starting together: no empty key, no second key (both were possible)."""
    import multiprocessing

    path = tmp_path / "keys" / "personal-data.key"
    # spawn, not fork: a fork of this many-threaded test process can deadlock its child
    context = multiprocessing.get_context("spawn")
    with context.Pool(8) as pool:
        keys = pool.map_async(_load_key, [str(path)] * 32).get(timeout=120)
    assert len(set(keys)) == 1 and len(keys[0]) == 64
    assert [p.name for p in path.parent.iterdir()] == ["personal-data.key"]


def _load_key(path: str) -> str:
    from application.privacy import load_master_key

    return load_master_key({"PERSONAL_DATA_KEY_FILE": path}).hex()


def test_a_subject_sealed_under_another_key_is_a_clear_error(tmp_path) -> None:
    import base64

    from application.ledger import ReturnsLedger
    from application.privacy import SealedUnderAnotherKeyError

    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "SQLITE_DBNAME": str(tmp_path / "l.sqlite3")}
    one = ReturnsLedger({**env, "PERSONAL_DATA_KEY": base64.urlsafe_b64encode(b"1" * 32).decode()})
    other = ReturnsLedger({**env,
                           "PERSONAL_DATA_KEY": base64.urlsafe_b64encode(b"2" * 32).decode()})
    try:
        one.vault.seal("seller:subject", {"name": "A"})
        with pytest.raises(SealedUnderAnotherKeyError, match="same key"):
            other.vault.seal("seller:subject", {"name": "B"})
        with pytest.raises(SealedUnderAnotherKeyError):
            other.vault.open("seller:subject", {"name": "x"})
    finally:
        one.close()
        other.close()
