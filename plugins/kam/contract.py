"""The landing contract (DESIGN.md §3): columns, types, required fields, keys.

Value rules (enums, ranges, uniqueness, date sanity) are data, not code: they
live in the Great Expectations suites ``expectations/raw_<source>.json``.
This module only says what each column *is*, so the reader can parse it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Logical column types and the DuckDB type each is stored as in raw.<source>.
DUCKDB_TYPES = {
    "text": "VARCHAR",
    "enum": "VARCHAR",
    "int": "BIGINT",
    "decimal": "DECIMAL(18,2)",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "bool": "BOOLEAN",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    personal: bool = False  # personal data: stays in raw, never published

    def __post_init__(self) -> None:
        if self.type not in DUCKDB_TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type!r}")


@dataclass(frozen=True)
class SourceContract:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # business key; latest updated_at wins downstream

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


def quote_ident(name: str) -> str:
    """A column name as a quoted SQL identifier (landing names are free text)."""
    return '"' + name.replace('"', '""') + '"'


def sql_string(value: str) -> str:
    """A value as a SQL string literal (file paths, reasons)."""
    return "'" + value.replace("'", "''") + "'"


def _c(name: str, type_: str = "text", required: bool = False, personal: bool = False) -> Column:
    return Column(name, type_, required, personal)


CONTRACTS: dict[str, SourceContract] = {
    "customers": SourceContract(
        "customers",
        (
            _c("customer_id", required=True),
            _c("customer_name", required=True),
            _c("industry"),
            _c("region"),
            _c("employee_count", "int"),
            _c("annual_budget", "decimal"),
            _c("account_manager"),
            _c("is_strategic_partner", "bool"),
            _c("contact_name", personal=True),
            _c("contact_phone", personal=True),
            _c("created_at", "timestamp", required=True),
            _c("updated_at", "timestamp", required=True),
        ),
        key=("customer_id",),
    ),
    "orders": SourceContract(
        "orders",
        (
            _c("order_id", required=True),
            _c("line_no", "int", required=True),
            _c("customer_id", required=True),
            _c("order_date", "date", required=True),
            _c("product_id"),
            _c("product_category", "enum", required=True),
            _c("quantity", "decimal", required=True),
            _c("list_price", "decimal"),
            _c("net_amount", "decimal", required=True),
            _c("cost", "decimal"),
            _c("currency"),
            _c("status", "enum", required=True),
            _c("invoice_due_date", "date"),
            _c("paid_amount", "decimal"),
            _c("paid_date", "date"),
            _c("updated_at", "timestamp", required=True),
        ),
        key=("order_id", "line_no"),
    ),
    "complaints": SourceContract(
        "complaints",
        (
            _c("complaint_id", required=True),
            _c("customer_id", required=True),
            _c("opened_at", "timestamp", required=True),
            _c("channel"),
            _c("category", "enum"),
            _c("severity", "int", required=True),
            _c("status", "enum", required=True),
            _c("first_response_at", "timestamp"),
            _c("resolved_at", "timestamp"),
            _c("satisfaction", "int"),
            _c("updated_at", "timestamp", required=True),
        ),
        key=("complaint_id",),
    ),
    "visits": SourceContract(
        "visits",
        (
            _c("visit_id", required=True),
            _c("customer_id", required=True),
            _c("visit_date", "date", required=True),
            _c("visit_type", "enum", required=True),
            _c("sales_rep"),
            _c("buyer_role", "enum"),
            _c("sales_stage", "enum"),
            _c("relationship_level", "enum"),
            _c("notes"),
            _c("updated_at", "timestamp", required=True),
        ),
        key=("visit_id",),
    ),
}


def contract_for(source: str) -> SourceContract:
    try:
        return CONTRACTS[source]
    except KeyError:
        raise ValueError(
            f"unknown source {source!r}; expected one of {', '.join(CONTRACTS)}"
        ) from None
