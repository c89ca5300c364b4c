"""The floors the pipeline is measured against: the engine floor (core marts by hand in one
DuckDB script over the landing files) and the load floor (DuckDB's readers alone into tables)."""

from __future__ import annotations

import datetime as dt
import time
from contextlib import ExitStack
from pathlib import Path

import duckdb


def _reader_sql(path: Path, files: ExitStack, folder: Path, all_varchar: bool) -> tuple[str, str]:
    """(file format, DuckDB reader call) for a landing file; a CSV that is not UTF-8 is read
    through a UTF-8 copy that lives as long as ``files`` (as the pipeline reads it)."""
    from kam.ingest.readers import utf8_copy

    fmt = {".parquet": "parquet", ".jsonl": "jsonl"}.get(path.suffix, "csv")
    if fmt == "csv":
        path = files.enter_context(utf8_copy(path, _sniffed_encoding(path), folder))
    p = str(path).replace("'", "''")
    return fmt, {"parquet": f"read_parquet('{p}')",
                 "jsonl": f"read_json('{p}', format='newline_delimited', records=true)",
                 "csv": f"read_csv('{p}', header=true{', all_varchar=true' if all_varchar else ''})"}[fmt]


def engine_floor(landing: Path, run_date: dt.date, con: duckdb.DuckDBPyConnection) -> tuple[int, float, list]:
    """The core marts in one DuckDB SQL script over the landing files (no checks, no lineage)."""
    from kam.ingest.readers import temp_directory

    with ExitStack() as files:
        return _engine_floor(landing, run_date, con, files, temp_directory(con))


def _engine_floor(landing: Path, run_date: dt.date, con: duckdb.DuckDBPyConnection, files: ExitStack,
                  folder: Path) -> tuple[int, float, list]:
    parts = []
    for path in sorted((landing / "orders").iterdir()):
        src = f"select * from {_reader_sql(path, files, folder, all_varchar=True)[1]}"
        parts.append(f"""select cast(order_id as varchar) as order_id, cast(line_no as integer) as line_no,
            cast(customer_id as varchar) as customer_id,
            cast(replace(cast(order_date as varchar), '/', '-') as date) as order_date,
            cast(replace(cast(net_amount as varchar), ',', '') as decimal(18, 2)) as net_amount,
            cast(status as varchar) as status, cast(updated_at as timestamp) as updated_at
            from ({src})""")
    con.execute(f"""
        create or replace temp table floor_lines as
        select * from ({' union all '.join(parts)})
        qualify row_number() over (partition by order_id, line_no order by updated_at desc) = 1
    """)
    con.execute(f"delete from floor_lines where order_date > date '{run_date.isoformat()}'")
    monthly = con.execute("""
        select customer_id, date_trunc('month', order_date) as month, sum(net_amount) as revenue
        from floor_lines where status <> 'cancelled' group by all order by all""").fetchall()
    lines, revenue = con.execute("select count(*), coalesce(sum(net_amount) filter (where status <> 'cancelled'), 0) "
                                 "from floor_lines").fetchone()
    return lines, float(revenue), monthly


def _sniffed_encoding(path: Path) -> str:
    """UTF-8 unless the first MiB does not decode as it (then GB18030): a floor's guess, not
    the pipeline's check of the whole file."""
    try:
        with path.open(encoding="utf-8") as fh:
            fh.read(1 << 20)
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def load_floor(landing: Path, db_path: Path, memory_limit: str, tmp_dir: str) -> dict[str, tuple[int, float]]:
    """What DuckDB alone needs to land the same files: each file read by DuckDB's own reader
    (types detected by it) into a table of a new database file on disk, then checkpointed. No
    text copy, parsing rules, row checks, lineage, quarantine, manifest or GX. Per file format:
    (rows, seconds)."""
    db_path.unlink(missing_ok=True)
    con = duckdb.connect(str(db_path), config={"memory_limit": memory_limit, "temp_directory": tmp_dir})
    out: dict[str, tuple[int, float]] = {}
    try:
        landed = sorted(p for source in sorted(landing.iterdir()) if source.is_dir()
                        for p in source.iterdir() if p.is_file() and not p.name.startswith("."))
        for i, path in enumerate(landed):
            started = time.monotonic()
            with ExitStack() as files:
                fmt, src = _reader_sql(path, files, Path(tmp_dir), all_varchar=False)
                con.execute(f"create table f{i} as select * from {src}")
            con.execute("checkpoint")
            seconds = time.monotonic() - started
            rows = con.execute(f"select count(*) from f{i}").fetchone()[0]
            before = out.get(fmt, (0, 0.0))
            out[fmt] = (before[0] + rows, before[1] + seconds)
    finally:
        con.close()
        db_path.unlink(missing_ok=True)
    return out


def floor_job(landing: Path, run_date: dt.date, memory_limit: str, tmp_dir: str):
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": tmp_dir})
    try:
        return engine_floor(landing, run_date, con)
    finally:
        con.close()


def published_core(path: Path) -> tuple[int, float, list]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        lines, revenue = con.execute("select count(*), coalesce(sum(net_amount) filter (where is_revenue), 0) "
                                     "from fct_order_lines").fetchone()
        monthly = con.execute("""select customer_id, date_trunc('month', order_date), sum(net_amount)
                                 from fct_order_lines where is_revenue group by all order by all""").fetchall()
    finally:
        con.close()
    return lines, float(revenue), monthly


def same_monthly(a: list, b: list) -> bool:
    def norm(rows):
        return [(c, dt.date(m.year, m.month, 1), round(float(v), 2)) for c, m, v in rows]

    return norm(a) == norm(b)
