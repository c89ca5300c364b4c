"""The published marts: the BI contract (DESIGN.md "Paths and names").

These dbt models (schema ``marts`` in the working warehouse) are copied into
the published file under the same names; ``tier_publication_log`` and
``publications`` are added from the ops tables at publication.
"""

PUBLISHED_MARTS: tuple[str, ...] = (
    "dim_customers",
    "fct_order_lines",
    "fct_complaints",
    "fct_visits",
    "customer_value_monthly",
    "customer_tier_history",
    "customer_tier_changes",
    "tier_migration",
    "customer_alerts",
    "revenue_concentration",
    "visit_coverage",
)
