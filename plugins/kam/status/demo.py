"""The summary ``kam demo`` prints after its run: rows per mart, customers per tier, how to read it."""

from __future__ import annotations

import duckdb

from kam.config import Settings


def demo_summary(settings: Settings) -> str:
    path = settings.published_path
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute("show tables").fetchall()]
        counts = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}
        tiers = []
        if "customer_value_monthly" in tables:
            tiers = con.execute(
                "select tier, any_value(tier_label_en), any_value(tier_label_zh), count(*) "
                "from customer_value_monthly "
                "where as_of_month = (select max(as_of_month) from customer_value_monthly) "
                "group by tier order by tier").fetchall()
    finally:
        con.close()
    lines = [f"Published: {path}", "", "Rows per mart:"]
    lines += [f"  {t:<26} {n:>10,}" for t, n in counts.items()]
    if tiers:
        lines += ["", "Customers per tier (latest month):"]
        lines += [f"  {t:<2} {en} / {zh:<8} {n:>6,}" for t, en, zh, n in tiers]
    lines += [
        "", "Open it read-only (BI tools, analysts):",
        f"  python -c \"import duckdb; con = duckdb.connect('{path}', read_only=True); "
        "print(con.sql('show tables'))\"",
        f"  Parquet copies: {settings.parquet_dir}/<mart>/*.parquet (monthly marts: one file per month)",
        "Next: kam status · kam run --landing YOUR_FOLDER · README.md",
    ]
    return "\n".join(lines)
