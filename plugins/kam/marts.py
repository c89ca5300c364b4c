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

# The month column each large mart is partitioned by for publication: a publication
# rewrites only the months whose content changed (kam.publish); the others whole.
PUBLICATION_PARTITIONS: dict[str, str] = {
    "fct_order_lines": "order_month",
    "fct_complaints": "opened_month",
    "fct_visits": "visit_month",
    "customer_value_monthly": "as_of_month",
    "customer_alerts": "as_of_month",
    "customer_tier_changes": "change_month",
}
