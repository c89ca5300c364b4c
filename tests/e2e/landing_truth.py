"""An independent reading of a landing folder with plain pandas (no kam code).

The end-to-end tests compare the published marts with what this computes
straight from the generated files.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
    elif path.suffix == ".jsonl":
        df = pd.read_json(path, lines=True, dtype=False)
    else:
        raw = path.read_bytes()
        try:
            raw.decode("utf-8")
            encoding = "utf-8-sig"
        except UnicodeDecodeError:
            encoding = "gb18030"
        df = pd.read_csv(path, encoding=encoding, dtype=str, thousands=",")
    df.columns = [c.strip().lower() for c in df.columns]
    return df


def read_source(landing: Path, source: str) -> pd.DataFrame:
    frames = [_read(p) for p in sorted((landing / source).iterdir()) if p.is_file()]
    return pd.concat(frames, ignore_index=True)


def _dates(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series.astype(str).str.replace("/", "-", regex=False), format="mixed")


def latest_orders(landing: Path, run_date) -> pd.DataFrame:
    df = read_source(landing, "orders")
    df["net_amount"] = pd.to_numeric(df["net_amount"].astype(str).str.replace(",", ""))
    df["order_date"] = _dates(df["order_date"])
    df["updated_at"] = _dates(df["updated_at"])
    df["line_no"] = pd.to_numeric(df["line_no"]).astype(int)
    df = df.sort_values("updated_at").drop_duplicates(["order_id", "line_no"], keep="last")
    return df[df["order_date"] <= pd.Timestamp(run_date)]


def latest_by_key(landing: Path, source: str, key: str) -> pd.DataFrame:
    df = read_source(landing, source)
    df["updated_at"] = _dates(df["updated_at"])
    return df.sort_values("updated_at").drop_duplicates([key], keep="last")
