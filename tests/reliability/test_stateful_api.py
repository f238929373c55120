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
from tests.api.schema_checks import CHECKS


@pytest.mark.slow
def test_stateful_walks_over_the_inferred_links_never_get_a_5xx(tmp_path: Path) -> None:
    app = make_app({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite3")})
    token = issue_keys(app).admin
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
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
            response = case.call(headers=bearer(token))
            assert response.status_code == 201, response.text
            self.recorder.record_case(case=case)
            self.recorder.record_response(case_id=case.id, response=response)
            self._add_results_to_targets((), [StepOutput(response, case)])

        def after_call(self, response, case):
            seen[(case.operation.path, response.status_code)] += 1

        def get_call_kwargs(self, case):
            return {"headers": bearer(token)}

        def validate_response(self, response, case, additional_checks=None,
                              **kwargs):
            case.validate_response(response, checks=CHECKS)

    try:
        Walk.run(settings=settings(max_examples=12, stateful_step_count=6, deadline=None,
                                   database=None, suppress_health_check=list(HealthCheck)))
    finally:
        app.extensions["returns_ledger"].close()
    # Links were followed: commands and reads reached real parcels (not only 404s).
    followed = {path for (path, status), _ in seen.items()
                if "{parcel_id}" in path and status not in (404, 422)}
    assert followed, seen
