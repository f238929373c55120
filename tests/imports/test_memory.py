"""Memory stays flat however long the file: the peak over a whole import (accepted from a
file on disk, staged, applied, outcomes written) hardly grows from 2,000 lines to four
times as many. The million-line run is `python -m bench.imports`' figure (SCALING.md)."""

from __future__ import annotations

import pytest

from bench.imports import memory_peak


@pytest.mark.slow
def test_an_imports_memory_does_not_grow_with_its_file(tmp_path):
    small, _, small_counts = memory_peak(tmp_path, 500)  # 2,000 lines
    large, _, large_counts = memory_peak(tmp_path, 2000)  # 8,000 lines
    assert small_counts == {"applied": 2000} and large_counts == {"applied": 8000}
    assert large <= 1.5 * small, (small, large)
