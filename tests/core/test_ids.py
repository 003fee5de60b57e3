"""One id generator: document ids and request ids are monotonic ULIDs from the same code, each
source strictly increasing within a millisecond, valid for a ULID library, and timed right."""

from __future__ import annotations

import time

import ulid

from app.domain.ids import is_id, monotonic_ulids, new_id, new_request_id


def test_document_ids_are_ulids_in_creation_order():
    before = int(time.time() * 1000)
    ids = [new_id() for _ in range(20_000)]
    after = int(time.time() * 1000)
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    assert all(is_id(value) for value in ids)
    stamps = [ulid.ULID.from_str(value).milliseconds for value in (ids[0], ids[-1])]
    assert before <= stamps[0] <= stamps[1] <= after


def test_request_ids_come_from_the_same_generator_with_their_prefix():
    request_id = new_request_id()
    assert request_id.startswith("req_") and is_id(request_id[4:])
    assert abs(ulid.ULID.from_str(request_id[4:]).milliseconds - time.time() * 1000) < 1000


def test_each_source_keeps_its_own_count():
    first, second = monotonic_ulids("a_"), monotonic_ulids("b_")
    values = [(first(), second()) for _ in range(1000)]
    for series in zip(*values, strict=True):
        assert list(series) == sorted(series) and len(set(series)) == len(series)
