"""The bench helper for the resolver: figures measured on the corpus, in one run."""

from __future__ import annotations

from pathlib import Path

import pytest

from resolvers.bench.resolve import corpus_lines, measure_resolve


def test_measure_resolve_on_the_corpus(corpus: Path) -> None:
    """resolve and parse rates over the same bytes, and their ratio."""
    lines = corpus_lines(corpus)
    assert len(lines) >= 3700
    result = measure_resolve(lines[:400], rounds=1, replay=1)
    assert result["records"] == 400
    assert result["resolve_records_per_s"] > 0 and result["parse_records_per_s"] > 0
    ratio = result["resolve_records_per_s"] / result["parse_records_per_s"]
    assert result["resolve_vs_parse"] == pytest.approx(ratio, rel=1e-3)
    with pytest.raises(ValueError):
        measure_resolve([])
