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
)
