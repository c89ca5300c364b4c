"""The sample data generator: deterministic, in the landing contract, with the planted stories."""

from __future__ import annotations

import datetime as dt
import hashlib

import duckdb
import pandas as pd

from kam.contract import CONTRACTS
from kam.generate import PLANTED, generate

END = dt.date(2026, 6, 15)


def _digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    a = generate(tmp_path / "a", customers=60, months=13, seed=3, end_date=END)
    generate(tmp_path / "b", customers=60, months=13, seed=3, end_date=END)
    generate(tmp_path / "c", customers=60, months=13, seed=4, end_date=END)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    assert a.rows["orders"] > 0 and a.rows["visits"] > 0 and a.rows["complaints"] > 0


def test_files_use_every_accepted_format_and_encoding(tmp_path):
    generate(tmp_path, customers=60, months=13, seed=3, end_date=END)
    suffixes = {p.suffix for p in tmp_path.rglob("*.*")}
    assert {".csv", ".parquet", ".jsonl"} <= suffixes
    gb = (tmp_path / "customers").glob("customers_full_*.csv")
    raw = next(gb).read_bytes()
    raw.decode("gb18030")
    try:
        raw.decode("utf-8")
        raise AssertionError("the master export should be GB18030, not UTF-8")
    except UnicodeDecodeError:
        pass
    assert any(p.read_bytes()[:3] == b"\xef\xbb\xbf" for p in (tmp_path / "orders").glob("*.csv"))


def test_files_carry_the_contract_columns(tmp_path):
    generate(tmp_path, customers=60, months=13, seed=3, end_date=END)
    con = duckdb.connect()
    for source, contract in CONTRACTS.items():
        for path in (tmp_path / source).iterdir():
            if path.suffix == ".parquet":
                cols = pd.read_parquet(path).columns
            elif path.suffix == ".jsonl":
                cols = pd.read_json(path, lines=True).columns
            elif "full" in path.name:
                cols = pd.read_csv(path, encoding="gb18030", nrows=1).columns
            else:
                cols = con.sql(f"select * from read_csv('{path}', all_varchar=true) limit 0").columns
            assert set(contract.required) <= set(cols), (path, set(contract.required) - set(cols))


def test_planted_customers_have_their_stories(tmp_path):
    generate(tmp_path, customers=60, months=13, seed=3, end_date=END)
    orders = pd.concat([pd.read_parquet(p) for p in (tmp_path / "orders").glob("*.parquet")]
                       + [pd.read_csv(p, encoding="utf-8-sig") for p in (tmp_path / "orders").glob("*.csv")
                          if "gb" not in p.name], ignore_index=True)
    master = pd.read_csv(next((tmp_path / "customers").glob("customers_full_*.csv")), encoding="gb18030")
    assert set(PLANTED) - {"C000009"} <= set(master["customer_id"])
    assert "C000009" not in set(master["customer_id"])  # facts before master: inferred member
    one_off = orders[orders["customer_id"] == "C000002"]
    assert one_off["order_id"].nunique() <= 1


def test_asked_volumes_are_generated_and_revenue_per_customer_is_kept(tmp_path):
    natural = generate(tmp_path / "n", customers=300, months=13, seed=5, end_date=END)
    asked = {"order_lines": 3 * natural.rows["orders"], "complaints": 2_000, "visits": 6_000}
    scaled = generate(tmp_path / "s", customers=300, months=13, seed=5, end_date=END, **asked)
    got = {"order_lines": scaled.rows["orders"], "complaints": scaled.rows["complaints"],
           "visits": scaled.rows["visits"]}
    for name, want in asked.items():
        assert abs(got[name] - want) <= 0.05 * want, (name, got[name], want)
    # more lines, each smaller: the customers' revenue stays about what it was
    revenue = {k: duckdb.sql(f"select sum(try_cast(replace(net_amount, ',', '') as double)) from read_csv("
                             f"'{tmp_path / k}/orders/*.csv', all_varchar=true, union_by_name=true)").fetchone()[0]
               for k in ("n", "s")}
    assert 0.8 < revenue["s"] / revenue["n"] < 1.25, revenue


def test_all_from_start_puts_every_customer_in_the_first_month(tmp_path):
    """kam bench --history-months: every customer exists before the first month; by default some
    are created inside the period."""
    first = dt.date(END.year - 2, END.month, 1)  # 25 months back: the first month generated

    def created_inside(folder) -> int:
        frames = [pd.read_csv(p, encoding="gb18030" if "_full_" in p.name else "utf-8", dtype=str)
                  for p in (folder / "customers").glob("*.csv")]
        created = pd.to_datetime(pd.concat(frames)["created_at"].str.replace("/", "-"), format="mixed")
        return int((created >= pd.Timestamp(first)).sum())

    generate(tmp_path / "default", customers=300, months=25, seed=5, end_date=END)
    generate(tmp_path / "long", customers=300, months=25, seed=5, end_date=END, all_from_start=True)
    assert created_inside(tmp_path / "default") > 30
    assert created_inside(tmp_path / "long") == 0
