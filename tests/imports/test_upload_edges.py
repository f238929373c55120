"""What a careless ERP sends to POST /v1/imports: a form with two files, a compressed
body. Each is refused with a problem that says what to do, never an import that reads
something else than was meant (the second file was dropped, a gzip body read as CSV)."""

from __future__ import annotations

import gzip
import io

from tests.api.conftest import bearer
from tests.imports.support import as_csv, registration


def test_a_form_with_two_files_is_refused_naming_them(client, keys):
    header_only = b"id,command,occurred_at\r\n"
    answer = client.post("/v1/imports?format=canonical", data={
        "file": [(io.BytesIO(header_only), "a.csv"),
                 (io.BytesIO(as_csv([registration()])), "b.csv")]},
        content_type="multipart/form-data", headers=bearer(keys.client))
    assert answer.status_code == 422, answer.get_json()
    assert answer.mimetype == "application/problem+json"
    assert "one file" in answer.get_json()["detail"]
    other_name = client.post("/v1/imports?format=canonical", data={
        "file": (io.BytesIO(header_only), "a.csv"),
        "attachment": (io.BytesIO(as_csv([registration()])), "b.csv")},
        content_type="multipart/form-data", headers=bearer(keys.client))
    assert other_name.status_code == 422, other_name.get_json()
    listing = client.get("/v1/imports", headers=bearer(keys.client)).get_json()
    assert listing["imports"] == []


def test_a_compressed_body_is_refused_as_an_unsupported_media_type(client, keys):
    body = gzip.compress(as_csv([registration()]))
    answer = client.post("/v1/imports?format=canonical", data=body, content_type="text/csv",
                         headers=bearer(keys.client, **{"Content-Encoding": "gzip"}))
    assert answer.status_code == 415, answer.get_json()
    assert "gzip" in answer.get_json()["detail"]
    assert client.get("/v1/imports", headers=bearer(keys.client)).get_json()["imports"] == []
    plain = client.post("/v1/imports?format=canonical", data=as_csv([registration()]),
                        content_type="text/csv",
                        headers=bearer(keys.client, **{"Content-Encoding": "identity"}))
    assert plain.status_code == 202, plain.get_json()
