"""The audit's reconciliations of the marts with raw (kam.quality.audit.RECONCILIATIONS), on a small
real DuckDB warehouse: consistent data passes every one, and each kind of break fails its own."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from kam.quality.audit import RECONCILIATIONS, AuditResult, _reconcile

RUN = dt.date(2026, 3, 31)


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("create schema raw; create schema marts")
    con.execute("""create table raw.orders as
        select 'SO' || i as order_id, 1 as line_no, 'C' || (i % 5) as customer_id,
               date '2026-01-01' + cast(i * 3 as integer) as order_date, 10.0 * i as net_amount,
               case when i = 7 then 'cancelled' else 'confirmed' end as status,
               timestamp '2026-04-01' as updated_at, 1 as _batch_id, i as _row_number
        from range(20) t(i)""")
    # a later version of one line: the reconciliation takes the latest
    con.execute("""insert into raw.orders select order_id, line_no, customer_id, order_date, 999.0, status,
                   timestamp '2026-04-02', 2, 1 from raw.orders where order_id = 'SO3'""")
    con.execute("""create table marts.fct_order_lines as
        select order_id || '-1' as order_line_id, customer_id, order_date,
               case when order_id = 'SO3' then 999.0 else net_amount end as net_amount,
               status <> 'cancelled' as is_revenue
        from raw.orders where _batch_id = 1 and order_date <= date '2026-03-31'""")
    con.execute("create table raw.complaints as select 'K' || i as complaint_id, timestamp '2026-02-01' as opened_at "
                "from range(3) t(i)")
    con.execute("create table marts.fct_complaints as select complaint_id from raw.complaints")
    con.execute("create table raw.visits as select 'V' || i as visit_id, date '2026-02-01' as visit_date "
                "from range(4) t(i)")
    con.execute("create table marts.fct_visits as select visit_id from raw.visits")
    con.execute("create table marts.dim_customers as select 'C' || i as customer_id from range(5) t(i)")
    con.execute("""create table marts.customer_value_monthly as
        select distinct customer_id, date_trunc('month', order_date) as as_of_month from marts.fct_order_lines""")
    yield con
    con.close()


def _failed(con) -> list[str]:
    result = AuditResult()
    _reconcile(lambda sql: con.execute(sql).fetchone(), RUN, result)
    assert result.checks == len(RECONCILIATIONS)
    return [f.split(":")[0].removeprefix("reconciliation ") for f in result.failed]


def test_consistent_marts_pass_every_reconciliation(con):
    assert _failed(con) == []


def test_each_break_fails_its_own_reconciliation(con):
    con.execute("delete from marts.dim_customers where customer_id = 'C2'")
    assert _failed(con) == ["customers_with_orders_in_dim"]
    con.execute("insert into marts.dim_customers values ('C2')")

    # C4's orders fall in months 1..3; remove every monthly row of C4: no order month has a row
    con.execute("delete from marts.customer_value_monthly where customer_id = 'C4'")
    assert _failed(con) == ["customers_with_orders_have_monthly_rows"]
    con.execute("insert into marts.customer_value_monthly select distinct customer_id, date_trunc('month', order_date) "
                "from marts.fct_order_lines where customer_id = 'C4'")

    con.execute("update marts.fct_order_lines set net_amount = 1.0 where order_line_id = 'SO3-1'")  # not the latest
    assert _failed(con) == ["revenue_raw_vs_fct"]
    con.execute("update marts.fct_order_lines set net_amount = 999.0 where order_line_id = 'SO3-1'")

    con.execute("delete from marts.fct_visits where visit_id = 'V0'")
    assert _failed(con) == ["visits_count_raw_vs_fct"]
