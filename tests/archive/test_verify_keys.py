"""The constant-memory comparison of archived keys with the database's keys (both sorted)."""

from __future__ import annotations

import pytest

from archive.services import ArchiveVerificationError, _compare_keys


@pytest.mark.parametrize(
    ("archived", "in_database", "expected"),
    [
        ([1, 2, 3], [1, 2, 3], (3, 0, 0)),
        ([], [], (0, 0, 0)),
        ([1, 2, 3], [1, 3], (3, 1, 0)),  # 2 was purged already
        ([1, 3], [1, 2, 3, 4], (2, 0, 2)),  # 2 and 4 arrived after the export
        ([], [5], (0, 0, 1)),
        (["a1", "b2"], ["a1", "b2", "c3"], (2, 0, 1)),
    ],
)
def test_compare_keys(archived, in_database, expected):
    assert _compare_keys(iter(archived), iter(in_database)) == expected


@pytest.mark.parametrize("archived", [[1, 2, 2, 3], [1, 3, 2]])
def test_a_repeated_or_unordered_archived_key_fails(archived):
    with pytest.raises(ArchiveVerificationError, match="out of order or repeated"):
        _compare_keys(iter(archived), iter([1, 2, 3]))
