"""The build mode: a full rebuild, or incremental from the first month the new batches touch."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from kam.config import Settings
from kam.contract import quote_ident
from kam.warehouse import warehouse

FINGERPRINTED = ("dbt_project.yml", "models", "macros", "seeds")


def fingerprint(settings: Settings, extra_vars: dict | None = None) -> str:
    """A hash of what a build depends on besides the data: every model, macro and seed
    file, dbt_project.yml (the business rules), the target and any extra vars."""
    digest = hashlib.sha256()
    root = settings.dbt_project_dir
    for name in FINGERPRINTED:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes() + b"\0")
    digest.update(settings.target.encode())
    digest.update(json.dumps(extra_vars or {}, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


@dataclass
class BuildMode:
    full_refresh: bool
    reason: str
    fingerprint: str
    max_batch_id: int | None = None
    rebuild_from_month: dt.date | None = None  # incremental: the first month recomputed

    @property
    def name(self) -> str:
        return "full-refresh" if self.full_refresh else "incremental"


# The months a new version of a fact touches: its own, and those of its older versions
# (a correction can move a line to another month). Keys as in the fact models.
FACT_MONTHS = {
    "orders": (["order_id", "line_no"], "order_date"),
    "complaints": (["complaint_id"], "cast(opened_at as date)"),
    "visits": (["visit_id"], "visit_date"),
}


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


# An order line whose new version differs from the one in fct_order_lines only here touches
# the months from its (earlier) payment date, not from its order date: receivables are
# point-in-time (a line counts as paid from its paid_date), and nothing else reads these.
PAYMENT_COLUMNS = ("paid_amount", "paid_date", "updated_at")


def _has_fact_lineage(con) -> bool:
    return bool(con.execute("""select count(*) from information_schema.columns where table_schema = 'marts'
                               and table_name = 'fct_order_lines' and column_name = 'source_batch_id'""").fetchone()[0])


def _orders_touched_from(con, last_batch: int) -> dt.date | None:
    """The earliest date whose month the order versions loaded after ``last_batch`` can change.

    Per touched line: if the fact holds a version of it from the last good build (found by
    its ``source_batch_id``) and every new version equals that one except for the payment
    columns, the earliest payment date of those versions; otherwise (a new line, a
    correction, or a fact a failed build may have changed) the earliest order date of any
    version of the line, as for the other facts.
    """
    columns = [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = 'raw' "
        "and table_name = 'orders' order by ordinal_position").fetchall()]
    compared = [c for c in columns if not c.startswith("_") and c not in PAYMENT_COLUMNS]
    # raw.orders keeps a delivered file's extra columns under their delivered names: quoted
    same = " and ".join(f"n.{quote_ident(c)} is not distinct from p.{quote_ident(c)}" for c in compared) or "true"
    return con.execute(f"""
        with new as (select * from raw.orders where _batch_id > $last),
        -- the earlier versions of the touched lines first (materialized: else the join of every raw line
        -- with the fact came first, 2.3-3.7 s at 100k customers, growing with history; this way 0.2-0.7 s)
        touched as materialized (
            select * from raw.orders
            where _batch_id <= $last and (order_id, line_no) in (select order_id, line_no from new)
        ),
        prev as (
            select r.* from touched r
            inner join marts.fct_order_lines f
                on f.order_id = r.order_id and f.line_no = r.line_no and f.source_batch_id = r._batch_id
        ),
        per_line as (
            select n.order_id, n.line_no,
                   bool_and(p.order_id is not null and {same}) as payment_only,
                   least(min(n.paid_date), min(p.paid_date)) as first_paid
            from new n left join prev p on n.order_id = p.order_id and n.line_no = p.line_no
            group by n.order_id, n.line_no
        )
        select least(
            (select min(first_paid) from per_line where payment_only),
            (select min(r.order_date) from raw.orders r inner join per_line k
                 on r.order_id = k.order_id and r.line_no = k.line_no where not k.payment_only))
    """, {"last": last_batch}).fetchone()[0]


def build_mode(settings: Settings, run_date: dt.date, requested_full: bool = False,
               extra_vars: dict | None = None, fact_lineage: bool = True) -> BuildMode:
    """Incremental unless asked otherwise, or the last good build cannot be built on:
    none yet, different models or rules, another target, a run date before it, or a
    new customer-master batch (the master is current-state: it changes every month).
    Incremental: months from the earliest one the new batches touch, or from the
    previous run date's month (its last as-of date moves), are recomputed.
    ``fact_lineage``: the built facts' lineage can be read in this warehouse (the target's
    ``keeps_fact_lineage``), so a payment-only correction recomputes from its order's month."""

    current = fingerprint(settings, extra_vars)
    with warehouse(settings) as con:
        max_batch = con.execute("select max(batch_id) from ops.ingest_batches").fetchone()[0]

        def full(reason: str) -> BuildMode:
            return BuildMode(True, reason, current, max_batch)

        if requested_full:
            return full("requested (--full-refresh)")
        last = con.execute("""select fingerprint, run_date, coalesce(max_batch_id, 0) from ops.dbt_builds
                              where success and target = ? order by finished_at desc limit 1""",
                           [settings.target]).fetchone()
        if last is None:
            return full("first build on this target")
        last_fingerprint, last_run_date, last_batch = last
        if last_fingerprint != current:
            return full("models, seeds or configuration changed since the last build")
        if run_date < last_run_date:
            return full(f"run date {run_date} is before the last build's ({last_run_date})")
        tables = {r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'").fetchall()}
        if "customers" in tables and con.execute(
                "select count(*) from raw.customers where _batch_id > ? or cast(created_at as date) between ? and ?",
                [last_batch, last_run_date + dt.timedelta(days=1), run_date]).fetchone()[0]:
            return full("customer master changed (current-state attributes apply to every month)")
        months = [_month(last_run_date)]
        payments_only = fact_lineage and _has_fact_lineage(con)
        for table, (keys, date_expr) in FACT_MONTHS.items():
            if table not in tables:
                continue
            if table == "orders" and payments_only:
                touched = _orders_touched_from(con, last_batch)
            else:
                key_list = ", ".join(keys)
                touched = con.execute(f"""
                    select min({date_expr}) from raw.{table}
                    where ({key_list}) in (select {key_list} from raw.{table} where _batch_id > ?)""",
                                      [last_batch]).fetchone()[0]
            if touched is not None:
                months.append(_month(touched))
    from_month = min(months)
    return BuildMode(False, f"new batches after {last_batch}: months from {from_month:%Y-%m} recomputed",
                     current, max_batch, from_month)
