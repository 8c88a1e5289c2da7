"""The scale runner reads the other benchmarks' printed tables (benchmarks.common.table) column by column."""

from __future__ import annotations

from benchmarks.common import table
from benchmarks.run_scale import _figures


def test_table_rows_become_named_figures_with_every_column_intact() -> None:
    printed = table([["1", "1,234", "1,100", "400", "1.12", "3.09"], ["16", "9,876", "8,000", "2,000", "1.23", "4.94"]],
                    ["writers", "plain tx/s", "ours tx/s", "auditlog tx/s", "ours cost x", "auditlog cost x"])
    out = _figures("before\n" + printed + "\nchain verification after the run: OK (10 entries)\n")
    assert out == [
        "before",
        "writers 1: plain tx/s 1,234, ours tx/s 1,100, auditlog tx/s 400, ours cost x 1.12, auditlog cost x 3.09",
        "writers 16: plain tx/s 9,876, ours tx/s 8,000, auditlog tx/s 2,000, ours cost x 1.23, auditlog cost x 4.94",
        "chain verification after the run: OK (10 entries)",
    ]


def test_measure_tables_keep_spaces_inside_cells_and_drop_empty_ones() -> None:
    printed = table([["proof, 1M entries", "0.8 ms", ""], ["verify", "412,000 entries/s", "peak RSS 60 MB"]],
                    ["measure", "figure", "detail"])
    out = _figures(printed + "\ntargets: proofs < 10 ms\nshort\n")
    assert out == ["proof, 1M entries: figure 0.8 ms", "verify: figure 412,000 entries/s, detail peak RSS 60 MB",
                   "targets: proofs < 10 ms", "short"]


def test_lines_that_only_look_like_a_table_pass_through() -> None:
    assert _figures("a: 1\n\n----\nb  c\n") == ["a: 1", "----", "b  c"]
    assert _figures("total: 12\n---  ---\n") == ["total: 12", "---  ---"]
