"""The fair engine floor (DESIGN.md §6): the same published content of ``customer_value_monthly``
and ``customer_tier_history``, written by hand as one DuckDB script from the landing files and
persisted to a database file.

What a strong engineer would write for these two marts, in one process and one connection, with
no dbt, Airflow, lineage, quarantine tables, tests, GX or publication:

* every landing file read by DuckDB's own reader as text and parsed with the contract's rules
  (``kam.ingest.parse``); a row with a required value missing or unreadable is dropped;
* the latest version of each key, facts after the run date left out;
* facts aggregated to customer-month first; a dense customer-month spine; trailing sums as ROWS
  frames; distinct buyer roles as a bit mask OR-ed over the frame; point-in-time receivables as
  running sums of +/- changes; complaints joined to the months of their windows only where a
  metric does not decompose (the median response time, point-in-time state);
* percentile ranks from a running count of revenue customers over each indicator's distinct
  values per month (a ``RANGE ... EXCLUDE GROUP`` frame was 10x slower);
* counts stored as BIGINT and amounts as DECIMAL(18,2).

The business rules come from the dbt project's vars and seeds (the same configuration), never
from literals here. :func:`compare` reports, per mart, the share of the pipeline's rows the floor
reproduces exactly (floats to 1e-9) and which columns differ where they do not.
"""

from __future__ import annotations

import csv
import datetime as dt
from contextlib import ExitStack
from pathlib import Path

import duckdb
import yaml

from kam.bench.floors import _reader_sql
from kam.contract import CONTRACTS, quote_ident
from kam.ingest.parse import parse_error_expression, parse_expression

FAIR_MARTS = {"customer_value_monthly": ("customer_id", "as_of_month"),
              "customer_tier_history": ("customer_id", "valid_from")}


def project_rules(project_dir: Path) -> dict:
    """The dbt project's vars (DOMAIN.md's defaults as configured) and the seeds the marts use."""
    rules = dict(yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8"))["vars"])
    for seed in ("tier_labels", "relationship_levels", "tier_overrides"):
        with (project_dir / "seeds" / f"{seed}.csv").open(encoding="utf-8", newline="") as fh:
            rules[seed] = list(csv.DictReader(fh))
    return rules


def _values(rows: list[dict], columns: dict[str, str], alias: str) -> str:
    """A seed as an inline VALUES relation (typed)."""
    names = list(columns)
    if not rows:
        nulls = ", ".join(f"cast(null as {t}) as {n}" for n, t in columns.items())
        return f"(select {nulls} where false) as {alias}"
    body = ", ".join("(" + ", ".join(
        "null" if row.get(n) in (None, "") else f"cast('{str(row[n]).replace(chr(39), chr(39) * 2)}' as {t})"
        for n, t in columns.items()) + ")" for row in rows)
    return f"(values {body}) as {alias}({', '.join(names)})"


def _load(con: duckdb.DuckDBPyConnection, landing: Path, files: ExitStack, folder: Path,
          sources: tuple[str, ...] = tuple(CONTRACTS)) -> dict[str, int]:
    """Every landing file of each source into ``src_<source>``, parsed; rows a required value is
    missing or unreadable in are dropped. Returns the rows read per source."""
    read: dict[str, int] = {}
    for source in sources:
        contract = CONTRACTS[source]
        parts = []
        paths = sorted(p for p in (landing / source).iterdir() if p.is_file() and not p.name.startswith("."))
        for file_no, path in enumerate(paths):
            fmt, reader = _reader_sql(path, files, folder, all_varchar=True)
            present = {r[0] for r in con.execute(f"describe select * from {reader}").fetchall()}
            text = ", ".join(
                (f"cast({quote_ident(c.name)} as varchar)" if c.name in present else "cast(null as varchar)")
                + f" as {quote_ident(c.name)}" for c in contract.columns if not c.personal)
            parts.append(f"select {text}, {file_no} as file_no, row_number() over () as row_no from {reader}")
        columns = [c for c in contract.columns if not c.personal]
        typed = ", ".join(f"{parse_expression(c)} as {quote_ident(c.name)}" for c in columns)
        errors = [e for e in (parse_error_expression(c) for c in columns) if e != "null"]
        required = " and ".join(f"{quote_ident(c)} is not null" for c in contract.required)
        con.execute(f"""
            create or replace temp table src_{source} as
            select {typed}, file_no, row_no from ({' union all '.join(parts)}) as t
            where {required} and concat_ws('', {', '.join(errors)}) = ''
        """)
        read[source] = con.execute(f"select count(*) from src_{source}").fetchone()[0]
    return read


def fair_floor(landing: Path, run_date: dt.date, db_path: Path, project_dir: Path, memory_limit: str,
               tmp_dir: str, rules: dict | None = None) -> dict[str, int]:
    """Run the script; the two marts end up as tables of ``db_path`` (replaced). Returns their
    row counts and the rows loaded per source. ``rules``: instead of the project's (tests)."""
    from kam.ingest.readers import temp_directory

    db_path.unlink(missing_ok=True)
    con = duckdb.connect(str(db_path), config={"memory_limit": memory_limit, "temp_directory": tmp_dir})
    con.execute("set enable_progress_bar = false")
    try:
        with ExitStack() as files:
            loaded = _load(con, landing, files, temp_directory(con))
        for statement in script(rules or project_rules(project_dir), run_date):
            con.execute(statement)
        con.execute("checkpoint")
        counts = {m: con.execute(f"select count(*) from {m}").fetchone()[0] for m in FAIR_MARTS}
    finally:
        con.close()
    return {**counts, **{f"loaded_{k}": v for k, v in loaded.items()}}


def script(rules: dict, run_date: dt.date) -> list[str]:  # noqa: PLR0915 - one script, read top to bottom
    """The statements after the load, in order (each a temp table, the two marts persisted)."""
    r = f"date '{run_date.isoformat()}'"
    m = f"date '{run_date.replace(day=1).isoformat()}'"
    w = int(rules["window_months"])
    tol = rules["paid_tolerance"]
    pka = rules["pseudo_key_account"]
    tt, abc = rules["tier_thresholds"], rules["abc_thresholds"]
    wts = rules["dimension_weights"]
    labels = _values(rules["tier_labels"], {"tier": "varchar", "tier_rank": "integer", "size_class": "varchar",
                                            "label_en": "varchar", "label_zh": "varchar"}, "labels")
    levels = _values(rules["relationship_levels"], {"relationship_level": "varchar", "relationship_score": "integer"},
                     "levels")
    overrides = _values(rules["tier_overrides"], {"customer_id": "varchar", "tier": "varchar", "reason": "varchar",
                                                  "valid_from": "date", "valid_until": "date"}, "o")

    def first_as_of(date: str, strict: bool) -> str:
        """The first month whose as-of date is on/after (strict: after) ``date``; null if none."""
        if not strict:
            return f"case when {date} > {r} then null else date_trunc('month', {date})::date end"
        return (f"case when {date} >= {r} then null when {date} = last_day({date}) "
                f"then (date_trunc('month', {date}) + interval 1 month)::date "
                f"else date_trunc('month', {date})::date end")

    def latest(source: str, key: str) -> str:
        return (f"select * from src_{source} qualify row_number() over "
                f"(partition by {key} order by updated_at desc, file_no desc, row_no desc) = 1")

    def frame(expr: str, start: str = f"{w - 1} preceding", end: str = "current row") -> str:
        return f"{expr} over (partition by customer_id order by as_of_month rows between {start} and {end})"

    statements = [
        # --- latest versions, facts up to the run date ------------------------------------------
        f"""create temp table lines as
            select customer_id, order_id, order_date, date_trunc('month', order_date)::date as order_month,
                   product_category, status <> 'cancelled' as is_revenue, net_amount,
                   case when status <> 'cancelled' then net_amount - coalesce(cost, 0) end as gross_profit,
                   quantity * list_price as list_amount, invoice_due_date,
                   coalesce(paid_amount, 0) as paid_amount, paid_date
            from ({latest('orders', 'order_id, line_no')}) where order_date <= {r}""",
        f"""create temp table complaints as
            select customer_id, opened_at, date_trunc('month', opened_at)::date as opened_month,
                   severity >= {rules['severe_complaint_min_severity']} as is_severe, first_response_at,
                   cast(date_diff('minute', opened_at, first_response_at) as double) / 60 as first_response_hours,
                   resolved_at, satisfaction,
                   coalesce(resolved_at, case when status in ('resolved', 'closed') then updated_at end) as closed_at
            from ({latest('complaints', 'complaint_id')}) where cast(opened_at as date) <= {r}""",
        f"""create temp table visits as
            select v.customer_id, v.visit_id, v.visit_date, date_trunc('month', v.visit_date)::date as visit_month,
                   v.buyer_role, v.sales_stage, v.relationship_level, levels.relationship_score
            from ({latest('visits', 'visit_id')}) as v
            left join {levels} on v.relationship_level = levels.relationship_level
            where v.visit_date <= {r}""",
        # --- customers: the master, and customers seen only in facts ----------------------------
        f"""create temp table customers as
            with master as (
                select customer_id, annual_budget, coalesce(is_strategic_partner, false) as is_strategic_partner,
                       cast(created_at as date) as created
                from ({latest('customers', 'customer_id')}) where cast(created_at as date) <= {r}),
            activity as (
                select customer_id, min(d) as first_activity from (
                    select customer_id, order_date as d from lines
                    union all select customer_id, cast(opened_at as date) from complaints
                    union all select customer_id, visit_date from visits) group by all)
            select master.customer_id, annual_budget, is_strategic_partner,
                   date_trunc('month', least(created, coalesce(first_activity, created)))::date as since_month
            from master left join activity using (customer_id)
            union all
            select activity.customer_id, null, false, date_trunc('month', first_activity)::date
            from activity anti join master using (customer_id)""",
        f"""create temp table spine as
            select c.customer_id, s.as_of_month,
                   case when s.as_of_month = {m} then {r} else last_day(s.as_of_month) end as as_of_date,
                   s.as_of_month < {m} as is_complete_month
            from customers as c,
                 (select unnest(generate_series((select min(since_month) from customers), {m}, interval 1 month))::date
                  as as_of_month) as s
            where s.as_of_month >= c.since_month""",
        "create temp table calendar as select distinct as_of_month, as_of_date, "
        "cast(as_of_date + 1 as timestamp) as as_of_end from spine",
        # --- sales and financial: customer-month aggregates, then ROWS frames ---------------------
        """create temp table sales as
            with orders as (
                select customer_id, order_id, min(order_month) as order_month, sum(net_amount) as amount
                from lines where is_revenue group by all),
            largest as (
                select customer_id, order_month, max(amount) as largest_order_amount, count(*) as order_count
                from orders group by all)
            select l.customer_id, l.order_month, sum(net_amount) as revenue, sum(gross_profit) as gross_profit,
                   sum(case when product_category in ('service', 'solution') then net_amount else 0 end) as ssr,
                   sum(case when list_amount > 0 then net_amount else 0 end) as discounted_net,
                   sum(case when list_amount > 0 then list_amount else 0 end) as list_amount,
                   count(distinct order_date) as order_days, min(order_date) as first_order_date,
                   max(order_date) as last_order_date,
                   any_value(largest.order_count) as order_count,
                   any_value(largest.largest_order_amount) as largest_order_amount
            from lines as l left join largest using (customer_id, order_month)
            where is_revenue group by l.customer_id, l.order_month""",
        f"""create temp table windowed as
            with monthly as (
                select spine.*, coalesce(revenue, 0) as m_revenue, coalesce(gross_profit, 0) as m_gp,
                       coalesce(ssr, 0) as m_ssr, coalesce(discounted_net, 0) as m_disc,
                       coalesce(list_amount, 0) as m_list, coalesce(order_count, 0) as m_orders,
                       coalesce(order_days, 0) as m_days, first_order_date, last_order_date, largest_order_amount
                from spine left join sales on spine.customer_id = sales.customer_id
                    and spine.as_of_month = sales.order_month)
            select customer_id, as_of_month, as_of_date, is_complete_month,
                   {frame('sum(m_revenue)')}::decimal(18, 2) as revenue,
                   {frame('sum(m_gp)')}::decimal(18, 2) as gross_profit,
                   {frame('sum(m_ssr)')}::decimal(18, 2) as ssr,
                   {frame('sum(m_disc)')}::decimal(18, 2) as discounted_net,
                   {frame('sum(m_list)')}::decimal(18, 4) as list_amount,
                   {frame('sum(m_orders)')}::bigint as order_count,
                   {frame('sum(m_days)')}::bigint as order_days,
                   {frame('sum(m_revenue)', f'{2 * w - 1} preceding', f'{w} preceding')}::decimal(18, 2)
                       as previous_revenue,
                   {frame('count(*) filter (where m_revenue <> 0)')}::bigint as active_months,
                   {frame('max(largest_order_amount)')} as largest_order_amount,
                   {frame('min(first_order_date)')} as first_order_date,
                   {frame('max(last_order_date)', 'unbounded preceding')} as last_order_date
            from monthly""",
        # --- receivables at each as-of date: running sums of +/- changes --------------------------
        f"""create temp table invoices as
            select customer_id, invoice_due_date, net_amount, paid_amount, paid_date,
                   date_trunc('month', invoice_due_date)::date as due_month,
                   date_trunc('month', paid_date)::date as paid_month,
                   {first_as_of('invoice_due_date', False)} as due_by_month,
                   {first_as_of('invoice_due_date', True)} as past_due_month,
                   {first_as_of(f"cast(invoice_due_date + interval {rules['overdue_days']} day as date)", True)}
                       as past_limit_month,
                   {first_as_of('paid_date', False)} as paid_by_month,
                   date_diff('day', order_date, paid_date) as days_to_pay
            from lines where is_revenue and invoice_due_date is not null and net_amount > 0""",
        f"""create temp table receivables as
            with due as (select * from invoices where due_by_month is not null),
            collected as (
                select *, greatest(due_by_month, paid_by_month) as collected_month from due
                where paid_by_month is not null
                    and greatest(due_by_month, paid_by_month) < due_month + interval {w} month),
            paid as (select * from invoices where paid_by_month is not null),
            changes as (
                select customer_id, due_by_month as as_of_month, net_amount as due_amount, 1 as due_count,
                       0 as collected_amount, 0 as days_to_pay, 0 as paid_count from due
                union all select customer_id, (due_month + interval {w} month)::date, -net_amount, -1, 0, 0, 0 from due
                union all select customer_id, collected_month, 0, 0, paid_amount, 0, 0 from collected
                union all select customer_id, (due_month + interval {w} month)::date, 0, 0, -paid_amount, 0, 0
                          from collected
                union all select customer_id, paid_by_month, 0, 0, 0, days_to_pay, 1 from paid
                union all select customer_id, (paid_month + interval {w} month)::date, 0, 0, 0, -days_to_pay, -1
                          from paid
                union all select customer_id, as_of_month, 0, 0, 0, 0, 0 from spine),
            monthly as (
                select customer_id, as_of_month, sum(due_amount) as due_amount, sum(due_count) as due_count,
                       sum(collected_amount) as collected_amount, sum(days_to_pay) as days_to_pay,
                       sum(paid_count) as paid_count from changes group by all),
            running as (
                select customer_id, as_of_month,
                       {frame('sum(due_amount)', 'unbounded preceding')} as due_amount,
                       {frame('sum(due_count)', 'unbounded preceding')} as due_count,
                       {frame('sum(collected_amount)', 'unbounded preceding')} as collected_amount,
                       {frame('sum(days_to_pay)', 'unbounded preceding')} as days_to_pay,
                       {frame('sum(paid_count)', 'unbounded preceding')} as paid_count
                from monthly),
            open_invoices as (
                select *, case when paid_by_month is null or paid_amount < net_amount - {tol} then {m}
                               else (paid_by_month - interval 1 month)::date end as open_until_month
                from invoices where past_due_month is not null),
            open_at as (
                select o.customer_id, c.as_of_month,
                       sum(o.net_amount - case when o.paid_date <= c.as_of_date then o.paid_amount else 0 end)
                           as overdue_amount,
                       sum(case when o.past_limit_month <= c.as_of_month then o.net_amount
                           - case when o.paid_date <= c.as_of_date then o.paid_amount else 0 end else 0 end)
                           as overdue_past_limit_amount,
                       max(date_diff('day', o.invoice_due_date, c.as_of_date)) as max_days_overdue
                from open_invoices as o join calendar as c
                    on o.past_due_month <= c.as_of_month and o.open_until_month >= c.as_of_month
                group by all)
            select running.customer_id, running.as_of_month,
                   case when due_count > 0 then cast(collected_amount as double) / due_amount end as collection_rate,
                   coalesce(overdue_amount, 0)::decimal(18, 2) as overdue_amount,
                   coalesce(overdue_past_limit_amount, 0)::decimal(18, 2) as overdue_past_limit_amount,
                   case when paid_count > 0 then cast(days_to_pay as double) / paid_count end as avg_days_to_pay
            from running left join open_at using (customer_id, as_of_month)""",
        # --- service: complaints joined to the months of their window (median, point in time) -----
        f"""create temp table service as
            with c as (
                select *, (opened_month + interval {w - 1} month)::date as last_window_month,
                       coalesce(date_trunc('month', closed_at)::date, date '9999-12-01') as open_until_month
                from complaints),
            in_window as (
                select c.customer_id, k.as_of_month, count(*) as complaints,
                       count(*) filter (where is_severe) as severe_complaints,
                       median(first_response_hours) as median_first_response_hours,
                       count(*) filter (where resolved_at < k.as_of_end) as resolved,
                       cast(avg(satisfaction) as double) as avg_satisfaction,
                       count(*) filter (where opened_at >= cast(
                           k.as_of_end - interval {rules['complaint_spike_days']} day as timestamp))
                           as recent_complaints
                from c join calendar as k on c.opened_month <= k.as_of_month
                    and c.last_window_month >= k.as_of_month and c.opened_at < k.as_of_end
                group by all),
            open_at as (
                select c.customer_id, k.as_of_month, count(*) as open_complaints,
                       count(*) filter (where is_severe
                           and (first_response_at is null or first_response_at >= k.as_of_end)
                           and opened_at < cast(k.as_of_end - interval {rules['severe_complaint_sla_hours']} hour
                                                as timestamp)) as severe_past_sla
                from c join calendar as k on c.opened_month <= k.as_of_month
                    and k.as_of_month <= c.open_until_month and c.opened_at < k.as_of_end
                    and (c.closed_at is null or c.closed_at >= k.as_of_end)
                group by all)
            select * from in_window full join open_at using (customer_id, as_of_month)""",
        # --- engagement: visits per month, latest visit, roles as a bit mask over the frame -------
        f"""create temp table engagement as
            with roles as (select buyer_role, (row_number() over (order by buyer_role) - 1)::integer as bit
                           from (select distinct buyer_role from visits where buyer_role is not null)),
            monthly as (
                select customer_id, visit_month, count(*) as visits, max(visit_date) as last_visit_date,
                       bit_or(case when roles.bit is not null then (1::ubigint << roles.bit) end) as role_mask,
                       arg_max({{'level': relationship_level, 'stage': sales_stage, 'score': relationship_score}},
                               {{'date': visit_date, 'id': visit_id}}) as latest
                from visits left join roles using (buyer_role) group by all),
            spined as (
                select spine.customer_id, spine.as_of_month, spine.as_of_date, monthly.*
                exclude (customer_id, visit_month), monthly.visit_month
                from spine left join monthly on spine.customer_id = monthly.customer_id
                    and spine.as_of_month = monthly.visit_month)
            select customer_id, as_of_month,
                   {frame('sum(coalesce(visits, 0))')}::bigint as visits,
                   {frame('max(last_visit_date)', 'unbounded preceding')} as last_visit_date,
                   {frame('arg_max(latest, visit_month)', 'unbounded preceding')} as latest,
                   coalesce(bit_count({frame('bit_or(role_mask)')}), 0)::bigint as roles_covered,
                   as_of_date
            from spined""",
    ]
    # the customer metrics of DOMAIN.md §4, one row per spine row
    statements.append("""create temp table metrics as
        select wd.customer_id, wd.as_of_month, wd.as_of_date, wd.is_complete_month,
               wd.revenue, wd.order_count, wd.active_months, wd.previous_revenue,
               case when wd.previous_revenue > 0 then cast(wd.revenue as double) / wd.previous_revenue - 1 end
                   as revenue_growth,
               date_diff('day', wd.last_order_date, wd.as_of_date) as days_since_last_order,
               case when wd.order_days > 1 then cast(date_diff('day', wd.first_order_date, wd.last_order_date)
                   as double) / (wd.order_days - 1) end as usual_order_gap_days,
               wd.gross_profit,
               case when wd.revenue > 0 then cast(wd.gross_profit as double) / wd.revenue end as gross_margin,
               rc.collection_rate, rc.overdue_amount, rc.overdue_past_limit_amount, rc.avg_days_to_pay,
               case when wd.list_amount > 0 then 1 - cast(wd.discounted_net as double) / wd.list_amount end
                   as avg_discount_rate,
               cu.annual_budget,
               case when cu.annual_budget is not null then greatest(cu.annual_budget - greatest(wd.revenue, 0), 0)
                   end::decimal(18, 2) as budget_headroom,
               case when cu.annual_budget > 0 then cast(wd.revenue as double) / cu.annual_budget end as share_of_wallet,
               en.latest.level as relationship_level, en.latest.score as relationship_score,
               en.roles_covered, cu.is_strategic_partner,
               case when cu.is_strategic_partner then 1 else 0 end as strategic_partner_flag,
               date_diff('month', cu.since_month, wd.as_of_month) as tenure_months,
               coalesce(sv.complaints, 0)::bigint as complaints,
               coalesce(sv.severe_complaints, 0)::bigint as severe_complaints,
               coalesce(sv.open_complaints, 0)::bigint as open_complaints,
               coalesce(sv.severe_past_sla, 0)::bigint as severe_complaints_past_sla,
               sv.median_first_response_hours,
               case when sv.complaints > 0 then cast(sv.resolved as double) / sv.complaints end as resolution_rate,
               sv.avg_satisfaction, coalesce(sv.recent_complaints, 0)::bigint as recent_complaints,
               en.visits, date_diff('day', en.last_visit_date, wd.as_of_date) as days_since_last_visit,
               en.latest.stage as latest_sales_stage,
               case when wd.revenue > 0 then cast(wd.largest_order_amount as double) / wd.revenue end
                   as largest_order_share,
               case when wd.revenue > 0 then cast(wd.ssr as double) / wd.revenue end as service_solution_share
        from windowed as wd
        join customers as cu using (customer_id)
        left join receivables as rc using (customer_id, as_of_month)
        left join service as sv using (customer_id, as_of_month)
        left join engagement as en using (customer_id, as_of_month)""")
    # --- the scorecard (§5): percentile rank among revenue customers, per month and indicator ----
    indicators = rules["scorecard_indicators"]
    long = " union all ".join(
        f"select customer_id, as_of_month, {i} as indicator_no, revenue > 0 as has_revenue, "
        f"round({item['direction']} * cast({item['indicator']} as double), 9) as v from metrics "
        f"where (revenue > 0 or visits > 0) and {item['indicator']} is not null"
        + (" and revenue > 0" if item["dimension"] in ("financial", "sales") else "")
        for i, item in enumerate(indicators))

    def dimension(name: str) -> str:
        cases = " ".join(f"when {i} then cast({item['weight']} as double)"
                         for i, item in enumerate(indicators) if item["dimension"] == name)
        if not cases:
            return f"cast(null as double) as {name}_score"
        return (f"round(100 * sum(case indicator_no {cases} end * score) / sum(case indicator_no {cases} end), 6)"
                f" as {name}_score")

    dimensions = ", ".join(dimension(d) for d in ("financial", "sales", "customer", "service"))
    statements.append(f"""create temp table scores as
        with long as ({long}),
        at_value as (  -- revenue customers per distinct value; a running sum over the values gives those below
            select as_of_month, indicator_no, v, count(*) filter (where has_revenue) as n from long group by all),
        below as (
            select *, coalesce(sum(n) over (partition by as_of_month, indicator_no order by v
                                            rows between unbounded preceding and 1 preceding), 0) as below,
                   sum(n) over (partition by as_of_month, indicator_no) as population
            from at_value),
        ranked as (
            select long.customer_id, long.as_of_month, long.indicator_no, below.below, below.population
            from long join below using (as_of_month, indicator_no, v)),
        scored as (
            select *, case when population <= 1 then 0.5
                           else least(cast(below as double) / (population - 1), 1.0) end as score
            from ranked)
        select customer_id, as_of_month, {dimensions}
        from scored group by all""")
    statements.append(f"""create temp table valued as
        select customer_id, as_of_month, financial_score, sales_score, customer_score, service_score,
               round(({wts['financial']} * financial_score + {wts['sales']} * sales_score)
                     / {wts['financial'] + wts['sales']}, 6) as current_value_score,
               round(({wts['customer']} * customer_score + {wts['service']} * service_score)
                     / {wts['customer'] + wts['service']}, 6) as potential_value_score,
               round({wts['financial']} * financial_score + {wts['sales']} * sales_score
                     + {wts['customer']} * customer_score + {wts['service']} * service_score, 6) as value_score
        from metrics left join scores using (customer_id, as_of_month)""")
    # --- classes (§6) --------------------------------------------------------------------------
    cap = f"(select tier_rank from {labels} where labels.tier = '{pka['max_tier']}')"
    statements.append(f"""create temp table classified as
        with abc as (
            select customer_id, as_of_month,
                   cast(coalesce(sum(revenue) over (partition by as_of_month order by revenue desc, customer_id
                       rows between unbounded preceding and 1 preceding), 0) as double)
                   / sum(revenue) over (partition by as_of_month) as prior_share
            from metrics where revenue > 0),
        margins as (
            select as_of_month, median(gross_margin) as median_gross_margin,
                   quantile_cont(gross_margin, {rules['margin_floor_percentile']}) as margin_floor
            from metrics where revenue > 0 group by all),
        labels as (select * from {labels}),
        tiered as (
            select mt.*, abc.prior_share,
                   case when prior_share < {abc['A']} then 'A' when prior_share < {abc['B']} then 'B'
                        when prior_share < {abc['C']} then 'C' when prior_share is not null then 'D' end as abc_class,
                   case when mt.revenue > 0 then case when va.value_score >= {tt['A']} then 'A'
                        when va.value_score >= {tt['B']} then 'B' when va.value_score >= {tt['C']} then 'C' else 'D' end
                        when mt.visits > 0 then 'P' else 'X' end as score_tier
            from metrics as mt left join valued as va using (customer_id, as_of_month)
            left join abc using (customer_id, as_of_month)),
        capped as (
            select *, coalesce(largest_order_share >= {pka['min_largest_order_share']}
                               and order_count <= {pka['max_order_count']} and abc_class in ('A', 'B'), false)
                          as is_pseudo_key_account
            from tiered),
        raw as (
            select capped.*, case when is_pseudo_key_account and s.tier_rank < {cap} then '{pka['max_tier']}'
                                  else score_tier end as raw_tier
            from capped join labels as s on capped.score_tier = s.tier),
        graced as (
            select raw.*, {frame('min(r.tier_rank)', f"{int(rules['demotion_grace_months']) - 1} preceding")}
                              as computed_tier_rank
            from raw join labels as r on raw.raw_tier = r.tier)
        select graced.*, computed.tier as computed_tier, coalesce(o.tier, computed.tier) as tier,
               o.reason as override_reason, margins.median_gross_margin, margins.margin_floor
        from graced join labels as computed on graced.computed_tier_rank = computed.tier_rank
        left join {overrides} on graced.customer_id = o.customer_id and graced.as_of_date >= o.valid_from
            and (o.valid_until is null or graced.as_of_date <= o.valid_until)
        left join margins using (as_of_month)""")
    cut = rules["quadrant_cut"]
    statements.append(f"""create table customer_value_monthly as
        select c.customer_id, c.as_of_month, c.as_of_date, c.is_complete_month, c.tier, l.label_en as tier_label_en,
               l.label_zh as tier_label_zh, c.computed_tier, c.raw_tier, c.score_tier, c.override_reason, c.abc_class,
               c.prior_share, l.size_class,
               case when v.current_value_score >= {cut} and v.potential_value_score >= {cut} then 'star'
                    when v.current_value_score >= {cut} then 'cash_cow'
                    when v.potential_value_score >= {cut} then 'develop'
                    when v.potential_value_score is not null then 'maintain' end as value_quadrant,
               c.is_pseudo_key_account,
               case when l.size_class <> 'key' then null when c.gross_margin >= c.median_gross_margin then 'profit'
                    else 'volume' end as profit_role,
               case when l.size_class <> 'key' then null
                    when c.is_strategic_partner or c.relationship_level = 'alliance' then 'strategic'
                    when c.service_solution_share >= {rules['extrinsic_min_service_share']} then 'extrinsic'
                    else 'intrinsic' end as value_type,
               v.value_score, v.current_value_score, v.potential_value_score, v.financial_score, v.sales_score,
               v.customer_score, v.service_score, c.revenue, c.previous_revenue, c.revenue_growth, c.order_count,
               c.active_months, c.days_since_last_order, c.usual_order_gap_days, c.largest_order_share,
               c.service_solution_share, c.gross_profit, c.gross_margin, c.collection_rate, c.overdue_amount,
               c.overdue_past_limit_amount, c.avg_days_to_pay, c.avg_discount_rate, c.annual_budget, c.budget_headroom,
               c.share_of_wallet, c.relationship_level, c.relationship_score, c.roles_covered, c.is_strategic_partner,
               c.tenure_months, c.complaints, c.severe_complaints, c.open_complaints, c.severe_complaints_past_sla,
               c.median_first_response_hours, c.resolution_rate, c.avg_satisfaction, c.recent_complaints, c.visits,
               c.days_since_last_visit, c.latest_sales_stage, c.median_gross_margin, c.margin_floor
        from classified as c join valued as v using (customer_id, as_of_month)
        join {labels.replace(') as labels(', ') as l(')} on c.tier = l.tier""")
    # --- history (§7): SCD2 intervals of the tier ---------------------------------------------
    statements.append("""create table customer_tier_history as
        with flagged as (
            select customer_id, as_of_month, tier,
                   case when lag(tier) over (partition by customer_id order by as_of_month) = tier then 0 else 1 end
                       as starts
            from customer_value_monthly),
        numbered as (
            select *, sum(starts) over (partition by customer_id order by as_of_month
                                        rows between unbounded preceding and current row) as n
            from flagged),
        intervals as (
            select customer_id, n, min(tier) as tier, min(as_of_month) as valid_from, count(*) as months
            from numbered group by all)
        select customer_id, tier, valid_from,
               lead(valid_from) over (partition by customer_id order by valid_from) as valid_to,
               valid_to is null as is_current, months
        from intervals""")
    return statements


def compare(floor_db: Path, published_db: Path) -> dict[str, dict]:
    """Per mart: the pipeline's rows, the floor's, the share of the pipeline's rows the floor has
    with every column equal (floats to 1e-9 absolute), and per column how many matched rows differ."""
    out: dict[str, dict] = {}
    con = duckdb.connect()
    try:
        con.execute(f"attach '{published_db}' as pub (read_only)")
        con.execute(f"attach '{floor_db}' as flr (read_only)")
        for mart, keys in FAIR_MARTS.items():
            columns = con.execute(
                "select column_name, data_type from duckdb_columns() where database_name = 'pub' "
                "and table_name = ? order by column_index", [mart]).fetchall()
            on = " and ".join(f"p.{k} = f.{k}" for k in keys)

            def same(col: str, kind: str) -> str:
                if kind in ("DOUBLE", "FLOAT"):
                    return (f"((p.{col} is null and f.{col} is null) or abs(p.{col} - f.{col}) <= 1e-9)")
                return f"(p.{col} is not distinct from f.{col})"

            checks = [c for c, _ in columns if c not in keys]
            kinds = dict(columns)
            row = con.execute(f"""
                select (select count(*) from pub.{mart}), (select count(*) from flr.{mart}), count(*),
                       count(*) filter (where {' and '.join(same(c, kinds[c]) for c in checks)}),
                       {', '.join(f'count(*) filter (where not {same(c, kinds[c])})' for c in checks)}
                from pub.{mart} as p join flr.{mart} as f on {on}""").fetchone()
            pipeline, floor, matched, equal = row[:4]
            out[mart] = {"pipeline_rows": pipeline, "floor_rows": floor, "matched": matched, "equal": equal,
                         "share_equal": equal / pipeline if pipeline else 1.0,
                         "columns_differ": {c: n for c, n in zip(checks, row[4:], strict=True) if n}}
    finally:
        con.close()
    return out
