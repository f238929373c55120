"""WebhookEndpoint: URL shape, changes as events, secret rotation's grace, WH-1."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import InvalidValueError, RuleViolationError
from domain.webhooks import (
    RULE_AUTO_DISABLE,
    WebhookEndpoint,
    WebhookEndpointDeletedError,
    check_url,
    event_types,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _endpoint() -> WebhookEndpoint:
    return WebhookEndpoint.create(endpoint_id=uuid.uuid4(), seller_id="s1",
                                  url="https://erp.example.com/h", event_types=[],
                                  description=None, enabled=True,
                                  sealed_secret={"secret": "sealed-1"}, occurred_at=T0,
                                  actor="k1")


@pytest.mark.parametrize("url", ["http://example.com/h", "http://127.0.0.1/h",
                                 "ftp://example.com", "https://u:p@example.com/",
                                 "https://example.com/#x", "https:///nohost", "", "x" * 3000,
                                 "https://example.com:0/"])
def test_urls_must_be_https_and_plain(url):
    with pytest.raises(InvalidValueError):
        check_url(url, allow_http_loopback=False)


def test_http_only_to_loopback_and_only_when_allowed():
    assert check_url("http://127.0.0.1:8080/h", allow_http_loopback=True)
    assert check_url("http://localhost/h", allow_http_loopback=True)
    with pytest.raises(InvalidValueError):
        check_url("http://10.0.0.1/h", allow_http_loopback=True)
    with pytest.raises(InvalidValueError):
        check_url("http://127.0.0.1.evil.example/h", allow_http_loopback=True)


def test_event_types_must_be_known():
    assert event_types(["B", "A", "A"], frozenset({"A", "B"})) == ["A", "B"]
    with pytest.raises(InvalidValueError):
        event_types(["C"], frozenset({"A"}))


def test_a_change_is_an_event_only_when_something_differs():
    endpoint = _endpoint()
    assert not endpoint.change({"enabled": True}, T0, "k1")
    assert endpoint.change({"enabled": False, "description": "ERP"}, T0, "k1")
    changed = endpoint.collect_events()[-1]
    assert isinstance(changed, WebhookEndpoint.WebhookEndpointChanged)
    assert changed.changes == {"enabled": False, "description": "ERP"}


def test_the_previous_secret_signs_until_its_grace_ends():
    endpoint = _endpoint()
    endpoint.rotate_secret({"secret": "sealed-2"}, T0 + timedelta(hours=24), T0, "k1")
    assert endpoint.secrets_at(T0 + timedelta(hours=23)) == [{"secret": "sealed-2"},
                                                            {"secret": "sealed-1"}]
    assert endpoint.secrets_at(T0 + timedelta(hours=24)) == [{"secret": "sealed-2"}]


def test_wh1_disabled_only_after_failing_long_enough_with_the_facts():
    endpoint = _endpoint()
    with pytest.raises(RuleViolationError) as refused:
        endpoint.disable_for_failures(T0, 72, "HTTP 500", T0 + timedelta(hours=71))
    assert refused.value.rule == RULE_AUTO_DISABLE
    endpoint.disable_for_failures(T0, 72, "HTTP 500", T0 + timedelta(hours=73))
    disabled = endpoint.collect_events()[-1]
    assert isinstance(disabled, WebhookEndpoint.WebhookEndpointDisabled)
    assert disabled.rule == RULE_AUTO_DISABLE and disabled.facts["last_error"] == "HTTP 500"
    assert not endpoint.enabled


def test_a_deleted_endpoint_takes_no_more_commands():
    endpoint = _endpoint()
    endpoint.delete(T0, "k1")
    with pytest.raises(WebhookEndpointDeletedError):
        endpoint.change({"enabled": True}, T0, "k1")
