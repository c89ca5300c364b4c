"""Source mappings: a supplier's own exports, as they are, onto the landing contract.

One YAML file (``$KAM_HOME/sources.yml``, or ``KAM_SOURCES`` / ``kam run --sources FILE``) says,
per source, which files it covers, how to read them (encoding, delimiter, sheet, header row,
rows that are not data) and where each contract column comes from (a Chinese header, a
constant), with value maps for codes (已审核 → confirmed), date formats (``%Y年%m月%d日``,
Excel serial days) and units (万元 = 10000). The file is checked against
``sources.schema.json`` (published, docs/sources.md) before anything runs; an unknown key or a
bad type is refused naming its line. Without a mapping, a source is read as before: contract
column names, files under ``<landing>/<source>/``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from kam.contract import CONTRACTS
from kam.errors import ConfigError

SCHEMA_PATH = Path(__file__).with_name("sources.schema.json")
EXCEL = "excel"  # the date format name of Excel's serial day numbers


class MappingError(ConfigError):
    """A source mapping that cannot work, with the file and line."""


def header_key(name: str) -> str:
    """How headers are compared: Unicode-normalised (full-width forms as ASCII: （万元） is (万元)),
    case-folded, without any white space (a full-width space included)."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


@dataclass(frozen=True)
class ColumnMap:
    """Where one contract column's values come from, and how they are read."""

    column: str
    source: str | None = None  # the export's header; None for a constant
    value: str | None = None  # a constant
    values: dict[str, str] = field(default_factory=dict)  # value map, keys as header_key-free text
    formats: tuple[str, ...] = ()  # date/timestamp formats; EXCEL for serial days
    multiply: Decimal | None = None


@dataclass(frozen=True)
class PullQuery:
    """A source pulled from a database (:mod:`kam.ingest.pull`)."""

    connection: str  # env:NAME or airflow:CONN_ID: where the connection string is, never the string
    sql: str
    watermark: str | None = None  # a column of the result that grows with every change


@dataclass(frozen=True)
class SourceMapping:
    source: str
    file: Path  # the mapping file it came from, for messages
    files: tuple[str, ...] = ()
    format: str | None = None
    encoding: str | None = None
    delimiter: str = ","
    sheets: tuple[str | int, ...] | None = None  # None: the first; ("*",): every sheet
    header_row: int = 1
    skip_footer: int = 0
    skip_rows_matching: str | None = None
    date_formats: tuple[str, ...] = ()
    decimal: str = "."
    thousands: str = ","
    columns: dict[str, ColumnMap] = field(default_factory=dict)
    query: PullQuery | None = None

    @property
    def reshapes(self) -> bool:
        """Whether rows or columns change between the file and the contract (else read as today)."""
        return bool(self.columns or self.skip_footer or self.skip_rows_matching or self.date_formats
                    or self.decimal != "." or self.thousands != ",")

    def files_under(self, landing: Path) -> list[Path]:
        """The files this source covers, in name order (the order batches load in). A source
        pulled from a database covers no landing files unless ``files`` says so."""
        if self.query is not None and not self.files:
            return []
        patterns = self.files or (f"{self.source}/*",)
        found = {p for pattern in patterns for p in landing.glob(pattern)
                 if (p.is_file() or p.is_symlink()) and not p.name.startswith(".")}
        return sorted(found, key=lambda p: (p.name, str(p)))

    @property
    def origin(self) -> str:
        """Where this entry is, for messages: ``/data/sources.yml: sources.orders``."""
        return f"{self.file}: sources.{self.source}"

    def key_for(self, column: str) -> str:
        return f"sources.{self.source}.columns.{column}"


@dataclass(frozen=True)
class Mappings:
    path: Path | None
    sources: dict[str, SourceMapping]

    def get(self, source: str) -> SourceMapping | None:
        return self.sources.get(source)


NO_MAPPINGS = Mappings(None, {})


def _schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _line_of(node, path: list) -> int | None:
    """The 1-based line of the YAML node at ``path`` (keys and indexes), or of its nearest parent."""
    import yaml

    line = node.start_mark.line + 1
    for step in path:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == step:
                    node, line = value, key.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _schema_message(error) -> str:
    """A jsonschema error in a person's words: the key, what is wrong, what is allowed."""
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        known = ", ".join(error.schema.get("properties", {})) or "none"
        return f"{where}: unknown key {', '.join(map(repr, extra))} (known here: {known})"
    if error.validator == "enum":
        return f"{where}: {error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "oneOf" and isinstance(error.instance, dict) and "from" in error.instance \
            and "value" in error.instance:
        return f"{where}: give either from (a header) or value (a constant), not both"
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        return f"{where}: needs from (the export's header) or value (a constant)"
    return f"{where}: {error.message}"


def load_mappings(path: Path | None) -> Mappings:
    """The mappings in ``path`` (None or a missing default file: no mappings), checked entirely
    before use. Raises :class:`MappingError` naming the file and line of the first problem."""
    if path is None:
        return NO_MAPPINGS
    import jsonschema
    import yaml

    if not path.is_file():
        raise MappingError(f"source mapping {path} not found")
    text = path.read_text(encoding="utf-8-sig")
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise MappingError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if node is None or data is None:
        raise MappingError(f"{path}: empty (a mapping needs at least `sources:`)")
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: _line_of(node, _error_path(_deepest(e))) or 0)
    if errors:
        first = _deepest(errors[0])
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise MappingError(f"{path} line {_line_of(node, _error_path(first))}: {_schema_message(first)}{more}")
    sources = {}
    for source, spec in (data.get("sources") or {}).items():
        sources[source] = _source(path, node, source, spec or {})
    return Mappings(path, sources)


def _error_path(error) -> list:
    """Where a person should look: an unknown key's own line, else the value's."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        path += extra[:1]
    return path


def _deepest(error):
    """For oneOf/anyOf, the sub-error that says most (the branch that got furthest)."""
    if error.context:
        best = max(error.context, key=lambda e: (len(e.absolute_path), -len(str(e.message))))
        if len(best.absolute_path) > len(error.absolute_path):
            return _deepest(best)
    return error


def _as_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _source(path: Path, node, source: str, spec: dict) -> SourceMapping:
    contract = CONTRACTS[source]

    def fail(keys: list, message: str):
        raise MappingError(f"{path} line {_line_of(node, ['sources', source, *keys])}: sources.{source}."
                           f"{'.'.join(map(str, keys))}: {message}")

    columns: dict[str, ColumnMap] = {}
    types = {c.name: c.type for c in contract.columns}
    seen_headers: dict[str, str] = {}
    for column, how in (spec.get("columns") or {}).items():
        if column not in types:
            close = ", ".join(types)
            fail(["columns", column], f"{column!r} is not a column of the {source} contract ({close})")
        how = {"from": how} if isinstance(how, str) else how
        kind = types[column]
        if "formats" in how and kind not in ("date", "timestamp"):
            fail(["columns", column, "formats"], f"formats apply to dates and timestamps; {column} is {kind}")
        if "multiply" in how and kind not in ("decimal", "int"):
            fail(["columns", column, "multiply"], f"multiply applies to numbers; {column} is {kind}")
        if "from" in how:
            key = header_key(how["from"])
            if key in seen_headers:
                fail(["columns", column, "from"] if isinstance(spec["columns"][column], dict) else ["columns", column],
                     f"header {how['from']!r} is already mapped to {seen_headers[key]}")
            seen_headers[key] = column
        for fmt in how.get("formats", ()):
            _check_format(fmt, lambda msg, c=column: fail(["columns", c, "formats"], msg))
        columns[column] = ColumnMap(
            column=column, source=how.get("from"),
            value=_as_text(how["value"]) if "value" in how else None,
            values={_as_text(k): _as_text(v) for k, v in (how.get("values") or {}).items()},
            formats=tuple(how.get("formats", ())),
            multiply=Decimal(str(how["multiply"])) if "multiply" in how else None)
    for fmt in spec.get("date_formats", ()):
        _check_format(fmt, lambda msg: fail(["date_formats"], msg))
    pattern = spec.get("skip_rows_matching")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            fail(["skip_rows_matching"], f"not a regular expression: {exc}")
    if spec.get("decimal", ".") == spec.get("thousands", ","):
        fail(["decimal"], "the decimal and thousands separators must differ")
    sheet = spec.get("sheet")
    sheets = None if sheet is None else tuple(sheet) if isinstance(sheet, list) else (sheet,)
    files = spec.get("files")
    query = spec.get("query")
    return SourceMapping(
        query=PullQuery(query["connection"], query["sql"], query.get("watermark")) if query else None,
        source=source, file=path, files=tuple([files] if isinstance(files, str) else files or ()),
        format=spec.get("format"), encoding=spec.get("encoding"), delimiter=spec.get("delimiter", ","),
        sheets=sheets, header_row=spec.get("header_row", 1), skip_footer=spec.get("skip_footer", 0),
        skip_rows_matching=pattern, date_formats=tuple(spec.get("date_formats", ())),
        decimal=spec.get("decimal", "."), thousands=spec.get("thousands", ","), columns=columns)


def _check_format(fmt: str, fail) -> None:
    if fmt == EXCEL:
        return
    if "%" not in fmt:
        fail(f"{fmt!r} is not a date format: use strftime codes (%Y年%m月%d日) or \"excel\"")
    import duckdb

    try:  # DuckDB parses the dates: ask it whether it knows the codes
        duckdb.sql("select try_strptime('2000-01-01', ?)", params=[fmt]).fetchall()
    except duckdb.Error as exc:
        fail(f"{fmt!r}: {str(exc).splitlines()[0]}")
