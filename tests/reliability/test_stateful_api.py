"""Schemathesis, stateful: chains of calls following the links it infers from the spec
(register -> read -> command -> history ...), bounded; never a 5xx, answers as documented."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation.stateful.state_machine import StepOutput

from tests.api.conftest import bearer, issue_keys, make_app, parcel_body
from tests.api.schemathesis_hooks import fresh_idempotency_key
from tests.api.test_openapi import CONFIG


@pytest.mark.slow
@pytest.mark.parametrize("role", ["admin", "finance"])
def test_stateful_walks_over_the_inferred_links_keep_to_the_contract(tmp_path: Path,
                                                                     role: str) -> None:
    """Every check of tests/api/schemathesis.toml on each step, as in the CLI's stateful
    phase, with an admin key and with a finance key."""
    app = make_app({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite3")})
    keys = issue_keys(app)
    token = getattr(keys, role)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=CONFIG)
    base = schema.as_state_machine()
    links = [name for name in vars(base) if "__POST_v1_parcels_parcel_id" in name
             and name.startswith(("POST_v1_parcels___201", "GET_v1_parcels_parcel_id_"))]
    assert len(links) >= 10  # the spec lets a walk go from a new parcel to its commands

    seen: Counter[tuple[str, int]] = Counter()
    coin = itertools.count()

    class Walk(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            # Fuzzed registrations rarely validate, and schemathesis does not start walks
            # at POST /v1/parcels (it guesses seller_id is a foreign key): every walk starts
            # from a real registration, whose links lead to the commands and reads.
            case = schema["/v1/parcels"]["POST"].Case(
                body=parcel_body(f"SF{next(coin):06d}"), media_type="application/json")
            response = case.call(headers=bearer(keys.admin))
            assert response.status_code == 201, response.text
            self.recorder.record_case(case=case)
            self.recorder.record_response(case_id=case.id, response=response)
            self._add_results_to_targets((), [StepOutput(response, case)])

        def before_call(self, case):
            fresh_idempotency_key(case)

        def get_call_kwargs(self, case):
            return {"headers": bearer(token)}

        def after_call(self, response, case):
            seen[(case.operation.path, response.status_code)] += 1

        def validate_response(self, response, case, additional_checks=None,
                              **kwargs):
            # The run's key, as the CLI's -H: the checks know it (ignored_auth probes without it).
            case.validate_response(response, headers=bearer(token))

    # A walk starts at a parcel: the links of the other resources' answers (orders,
    # questions, imports, ...) would spend its few steps where it has no real id to follow.
    for name, member in vars(base).items():
        if (getattr(member, "hypothesis_stateful_rule", None) is not None
                and not name.startswith(("POST_v1_parcels", "GET_v1_parcels"))):
            setattr(Walk, name, None)

    try:
        Walk.run(settings=settings(max_examples=12, stateful_step_count=6, deadline=None,
                                   database=None, suppress_health_check=list(HealthCheck)))
    finally:
        app.extensions["returns_ledger"].close()
    # Links were followed: commands and reads reached real parcels (not only 404s).
    followed = {path for (path, status), _ in seen.items()
                if "{parcel_id}" in path and status not in (404, 422)}
    assert followed, seen
