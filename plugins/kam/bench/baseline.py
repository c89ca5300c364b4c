"""The pandas baseline: the core marts as a user might compute them with plain pandas."""

from __future__ import annotations

import datetime as dt
from pathlib import Path


def pandas_baseline(landing: Path, run_date: dt.date) -> tuple[int, float, list]:
    """The same core marts the way a pandas user would write them."""
    import pandas as pd

    frames = []
    for path in sorted((landing / "orders").iterdir()):
        if path.suffix == ".parquet":
            df = pd.read_parquet(path)
        elif path.suffix == ".jsonl":
            df = pd.read_json(path, lines=True, dtype=False)
        else:
            try:
                df = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
            except UnicodeDecodeError:
                df = pd.read_csv(path, dtype=str, encoding="gb18030")
        df = df[["order_id", "line_no", "customer_id", "order_date", "net_amount", "status", "updated_at"]].copy()
        df["net_amount"] = pd.to_numeric(df["net_amount"].astype(str).str.replace(",", "", regex=False))
        df["order_date"] = pd.to_datetime(df["order_date"].astype(str).str.replace("/", "-", regex=False),
                                          format="mixed")
        df["updated_at"] = pd.to_datetime(df["updated_at"].astype(str), format="mixed")
        df["line_no"] = pd.to_numeric(df["line_no"]).astype(int)
        frames.append(df)
    orders = pd.concat(frames, ignore_index=True)
    orders = orders.sort_values("updated_at").drop_duplicates(["order_id", "line_no"], keep="last")
    orders = orders[orders["order_date"] <= pd.Timestamp(run_date)]
    revenue = orders[orders["status"] != "cancelled"]
    monthly = (revenue.assign(month=revenue["order_date"].dt.to_period("M").dt.to_timestamp())
               .groupby(["customer_id", "month"], as_index=False)["net_amount"].sum()
               .sort_values(["customer_id", "month"]))
    rows = [(c, m.to_pydatetime(), round(float(v), 2)) for c, m, v in monthly.itertuples(index=False)]
    return len(orders), float(revenue["net_amount"].sum()), rows
