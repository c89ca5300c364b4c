"""The benchmark's data cache (kam.bench.data): generated once, checked before every reuse."""

from __future__ import annotations

import datetime as dt
import json

from kam.bench.data import MANIFEST, cached_landing, check_entry, entry_name

PARAMS = {"customers": 40, "months": 13, "seed": 3, "end_date": dt.date(2026, 6, 15), "daily_tail": True}


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_generated_once_then_reused_as_links_with_the_same_rows(tmp_path):
    cache = tmp_path / "cache"
    first = cached_landing(cache, tmp_path / "a", echo=lambda _: None, **PARAMS)
    second = cached_landing(cache, tmp_path / "b", echo=lambda _: None, **PARAMS)
    assert (first.reused, second.reused) == (False, True)
    assert first.rows == second.rows and first.rows["orders"] > 1000
    assert first.last_day_files == second.last_day_files and first.last_day_files
    assert _files(tmp_path / "a") == _files(tmp_path / "b") and MANIFEST not in str(_files(tmp_path / "a"))
    entry = cache / entry_name(PARAMS)
    some = sorted((entry / "orders").iterdir())[0]
    assert (tmp_path / "b" / "orders" / some.name).stat().st_ino == some.stat().st_ino  # a hard link
    manifest = json.loads((entry / MANIFEST).read_text())
    assert sum(f["records"] for n, f in manifest["files"].items() if n.startswith("orders/")) == first.rows["orders"]


def test_a_damaged_or_unfinished_entry_is_never_reused(tmp_path):
    cache = tmp_path / "cache"
    cached_landing(cache, tmp_path / "a", echo=lambda _: None, **PARAMS)
    entry = cache / entry_name(PARAMS)
    assert check_entry(entry)[1] == "ok"
    victim = sorted((entry / "orders").glob("*.csv"))[0]
    victim.write_bytes(victim.read_bytes().replace(b"confirmed", b"cancelled", 1))  # same size, other content
    manifest, why = check_entry(entry)
    assert manifest is None and why == f"orders/{victim.name}: records or sha256 differ from the manifest"
    said = []
    again = cached_landing(cache, tmp_path / "b", echo=said.append, **PARAMS)
    assert not again.reused and "records or sha256 differ" in said[0]
    assert check_entry(entry)[1] == "ok"
    (entry / MANIFEST).unlink()  # as a generation killed before its manifest leaves it
    assert check_entry(entry) == (None, "no manifest (an interrupted generation)")


def test_other_parameters_or_other_generator_code_make_another_entry():
    assert entry_name(PARAMS) != entry_name({**PARAMS, "seed": 4})
    assert entry_name(PARAMS) != entry_name({**PARAMS, "all_from_start": True})
    assert entry_name(PARAMS).startswith("customers-40_daily_tail-True_end_date-2026-06-15_months-13_seed-3_")
