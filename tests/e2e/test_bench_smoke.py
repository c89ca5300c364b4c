"""`kam bench` at a tiny scale: it runs the real DAGs, the load and engine floors and the pandas baseline,
reconciles the three and appends its figures. How fast is measured by `make bench`, never here."""

from __future__ import annotations

import re

import pytest
from conftest import END_DATE, REPO, run_kam

pytestmark = pytest.mark.slow


def test_tiny_benchmark_runs_reconciles_and_reports(tmp_path):
    report = tmp_path / "benchmarks.md"
    work = tmp_path / "bench"
    proc = run_kam(["bench", "--customers", "40", "--months", "13", "--date", END_DATE.isoformat(),
                    "--workdir", str(work), "--report", str(report), "--small-files", "4x300", "--few-files", "2",
                    "--whatif", str(REPO / "examples" / "rules" / "more-weight-on-profit.yml")],
                   tmp_path / "home")
    text = report.read_text()
    assert text.startswith("# Benchmarks")
    for row in ("| ingest |", "| dbt build |", "| audit |", "| publish |", "| fair engine floor: ",
                "| two-mart floor: order lines and revenue per customer-month, DuckDB SQL script |",
                "| pandas baseline |", "| the dbt models' SQL alone", "| whole pipeline"):
        assert row in text, row
    # each stage reports its peak memory (the task's own high-water mark, read from its XCom)
    for stage in ("ingest", "dbt build", "audit", "publish"):
        row = re.search(rf"^\| {stage} \| [\d.]+ \| [^|]+ \| [^|]+ \| ([\d,]+) \|$", text, re.M)
        assert row and 50 < int(row.group(1).replace(",", "")) < 24_000, (stage, text)
    assert re.search(r"pipeline / two-mart floor: \*\*[\d.]+×\*\*", text)
    # the fair floor (the scorecard and tier history by hand) reproduces both published marts
    for ratio in ("pipeline / fair floor", "dbt build / fair floor"):
        assert re.search(rf"{ratio}: \*\*[\d.]+×\*\*", text), ratio
    for mart in ("customer_value_monthly", "customer_tier_history"):
        line = re.search(rf"fair floor vs the published {mart}: ([\d,]+) of ([\d,]+) rows equal in every column "
                         r"\(\*\*100\.00%\*\*", text)
        assert line and line.group(1) == line.group(2) != "0", (mart, text)
    assert '"fair_floor_marts_equal": true' in text
    # every DESIGN.md §6 target with its figure; the small files measured
    for target in ("dbt build ≤ 1.5× fair floor", "pipeline ≤ 2.5× fair floor", "csv ingest ≥ 50%",
                   "jsonl ingest ≥ 50%", "parquet ingest ≥ 50%", "4 small files ≤ 1.5× the time of the same rows in 2",
                   "publish ≤ 10% of the full run", "peak RSS < 4 GB"):
        assert re.search(rf"^\| {re.escape(target)}[^|]* \| [^|]+ \| (yes|no) \|$", text, re.M), (target, text)
    assert re.search(r"small files: 1,200 order lines as 4 Parquet files ingested in [\d.]+ s, as 2 files", text)
    # DuckDB's readers alone load the same files the ingest stage read: the same rows
    ingested = re.search(r"^\| ingest \| [\d.]+ \| ([\d,]+) \|", text, re.M).group(1)
    floor_rows = re.search(r"^\| load floor: [^|]+ \| [\d.]+ \| ([\d,]+) \|", text, re.M).group(1)
    assert floor_rows == ingested, text
    assert re.search(r"ingest / load floor: \*\*[\d.]+×\*\*", text)
    assert re.search(r"ingest rows/s by file format, the pipeline's batches \(read to commit\): csv [\d,]+, "
                     r"jsonl [\d,]+, parquet [\d,]+; DuckDB's load floor: csv [\d,]+, jsonl [\d,]+, parquet [\d,]+",
                     text)
    # the last day's delivery is held back, then run incrementally and measured
    assert re.search(r"daily incremental run / full run: \*\*[\d.]+×\*\*", text)
    assert re.search(r"daily incremental run \(the last day's files\): [\d.]+ s .*tasks ingest [\d.]+ s, "
                     r"dbt build [\d.]+ s, audit [\d.]+ s, publish [\d.]+ s", text)
    assert re.search(r"Machine: \d+ cores, [\d.]+ GiB", text)
    assert '"order_lines_equal": true' in text and '"revenue_equal": true' in text
    assert '"customer_month_revenue_equal": true' in text
    # the models' compiled SQL run without dbt gives every published mart row for row
    assert '"models_sql_marts_equal": true' in text and '"models_sql_marts_differ": []' in text
    assert re.search(r"dbt build / the models' SQL alone: \*\*[\d.]+×\*\*", text)
    # the what-if part on the main run's warehouse, against its dbt build
    assert re.search(r"^\* what-if: more-weight-on-profit \(\d+ model\(s\) rebuilt\) in [\d.]+ s against the full "
                     r"run's dbt build of [\d.]+ s: \*\*[\d.]+×\*\*", text, re.M), text
    assert re.search(r"^  \* more-weight-on-profit: key accounts \d+ → \d+", text, re.M)
    assert "appended to" in proc.stdout
    assert not work.exists()  # generated data and state are removed unless --keep
    assert "generating into the cache (not cached)" in proc.stdout
    a_part_alone_appends_as_it_measures_and_reuses_the_cached_data(tmp_path / "home")


def test_bench_refuses_a_non_empty_workdir(tmp_path):
    work = tmp_path / "bench"
    work.mkdir()
    (work / "something").write_text("x")
    proc = run_kam(["bench", "--workdir", str(work), "--report", "-"], tmp_path / "home", check=False)
    assert proc.returncode == 2
    assert "is not empty" in proc.stderr
    assert (work / "something").exists()


def a_part_alone_appends_as_it_measures_and_reuses_the_cached_data(home):
    """`kam bench --no-main --small-files …` (make bench-small-files at a tiny scale) in the home of the
    main run above: only that part runs, on the data the main run generated into the cache (reused after
    its check); its section and the table of latest figures are written."""
    from kam.bench.report import LATEST_END, LATEST_START

    report = home.parent / "part.md"
    report.write_text(f"# Benchmarks\n\n{LATEST_START}\n| DESIGN.md §6 target | latest figure | met? | measured |\n"
                      f"|---|---|---|---|\n{LATEST_END}\n\n## Runs\n")
    args = ["bench", "--no-main", "--customers", "40", "--months", "13", "--date", END_DATE.isoformat(),
            "--small-files", "4x300", "--few-files", "2", "--report", str(report)]
    part = run_kam(args, home)
    assert "reused (checked)" in part.stdout and "generating" not in part.stdout
    assert re.search(r"^\[  0:\d\d\] small files: 1,200 order lines as 4 Parquet file\(s\), ingested", part.stdout,
                     re.M)
    text = report.read_text()
    assert text.count("— many small files (4x300, from 40 customers' order lines)") == 1
    assert "| whole pipeline" not in text  # no main run
    latest = text.split(LATEST_START)[1].split(LATEST_END)[0]
    assert re.search(r"^\| 4 small files ≤ 1\.5× the time of the same rows in 2 \| [\d.]+× \([\d.]+ s vs [\d.]+ s\) "
                     r"\| (yes|no) \| \d{4}-\d\d-\d\d \d\d:\d\d, many small files", latest, re.M), latest
    entries = [p.name for p in (home / "bench" / "data").iterdir()]
    assert len(entries) == 1 and entries[0].startswith("complaints-400_customers-40_")  # named by its parameters
    refused = run_kam(["bench", "--no-main", "--report", "-"], home, check=False)
    assert refused.returncode == 2 and "--no-main needs a series" in refused.stderr
