"""The report's headline table (locfusion.headline)."""

from __future__ import annotations

from pathlib import Path

from docutils.core import publish_parts

from locfusion.headline import headline_rst


def test_headline_table_renders_every_row(tmp_path: Path) -> None:
    assert headline_rst(tmp_path / "missing.tsv") == ""
    table = tmp_path / "metrics.tsv"
    table.write_text(
        "experiment\tgroup_remap\tn_seeds\taccuracy\tmacro_f1\tmcc\tmcc_pooled_over_seeds\tmcc_mean\n"
        "fusion_esm2*\tnone\t3\t0.800 ± 0.020\t0.700 ± 0.030\t0.650 ± 0.040\t0.655\t0.65\n"
        "DeepLocPro\tnone\t1\t0.850 ± 0.010\t0.800 ± 0.010\t0.716 ± 0.020\t\t0.71\n"
    )
    html = publish_parts(headline_rst(table), writer_name="html")["html_body"]
    assert html.count("<tr") == 3 and "fusion_esm2*" in html and "MCC pooled" in html
    assert "0.650 ± 0.040" in html and "0.71<" not in html  # the display columns, not the raw ones
    assert "–" in html  # an empty cell stays a cell
