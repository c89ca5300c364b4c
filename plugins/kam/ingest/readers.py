"""Read one landing file into a DuckDB temp table of text columns.

DuckDB's own readers do the work (CSV, Parquet, JSON Lines): nothing is read
row by row in Python. Every value is kept as text here; parsing into the
contract's types happens in SQL afterwards (``parse.py``) so that an
unreadable value becomes a quarantine reason instead of a failed load.

Every temp table carries ``_kam_row``: the record's ordinal number in the
file, counting records the reader rejected (for a CSV without multi-line
fields: line number − 1; for JSON Lines: the line number), so lineage points
at the right record even after a rejected one.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb

from kam.contract import quote_ident as _q
from kam.contract import sql_string
from kam.errors import BatchRefused
from kam.faults import fail_read_if_asked

FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".xls": "xls",
}


@dataclass(frozen=True)
class ReadOptions:
    """How to read a source's files (its mapping, :mod:`kam.sources`; the defaults are the
    landing contract's: format by extension, UTF-8 or GB18030, comma, header on line 1)."""

    format: str | None = None
    encoding: str | None = None
    delimiter: str = ","
    header_row: int = 1  # the line (CSV) or sheet row (workbook) of the header
    sheets: tuple[str | int, ...] | None = None  # workbooks: None = the first sheet, ("*",) = all


DEFAULT_OPTIONS = ReadOptions()


@dataclass
class Reject:
    """A record the reader could not split into columns (kept, never dropped)."""

    row_number: int
    raw_line: str
    error: str


@dataclass
class ReadResult:
    file_format: str
    encoding: str | None
    columns: list[str]
    rows: int
    rejects: list[Reject] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what a person should know (the sheets read)
    skipped: int = 0  # records that are not data (a source mapping's footer or pattern): counted, not loaded
    header_row: int = 1  # the line of the header (a CSV record's line is its number + this)

    @property
    def rows_read(self) -> int:
        return self.rows + len(self.rejects) + self.skipped


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BatchRefused(
            path,
            f"unknown file extension {path.suffix!r}; accepted: {', '.join(sorted(FORMATS))}",
        )
    return fmt


@dataclass
class TextScan:
    """What one pass over a text file's bytes found: its encoding and its line structure."""

    encoding: str
    newlines: int = 0  # "\n" bytes
    crlf: int = 0  # of which preceded by "\r"
    long_lines: dict[int, int] = field(default_factory=dict)  # 1-based line number -> bytes

    @property
    def mixed_endings(self) -> bool:
        return 0 < self.crlf < self.newlines

    @property
    def new_line(self) -> str:
        """The line ending DuckDB is told (after :func:`readable_copy` made mixed endings one)."""
        return "\\r\\n" if self.crlf and self.crlf == self.newlines else "\\n"


def scan_text(path: Path, max_line_bytes: int, encoding: str | None = None) -> TextScan:
    """UTF-8 (with or without BOM) or GB18030, decided by decoding the whole file (or only
    ``encoding``, when the source's mapping names one); in the same pass the line endings are
    counted and every line longer than ``max_line_bytes`` (without its ending) is noted. The
    lines are found on the bytes: UTF-8 and GB18030 never use the bytes of "\\r" or "\\n"
    inside a character (nor do the other ASCII-compatible encodings a mapping may name)."""
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise BatchRefused(path, f"unknown encoding {encoding!r} (the source mapping's encoding)") from None
        try:
            return _scan(path, encoding, max_line_bytes)
        except UnicodeDecodeError as exc:
            raise BatchRefused(path, f"file is not {encoding} as the source mapping says: it fails at byte "
                                     f"{exc.start}") from None
    last = ""
    for encoding in ("utf-8", "gb18030"):
        try:
            return _scan(path, encoding, max_line_bytes)
        except UnicodeDecodeError as exc:
            last = f"{encoding} fails at byte {exc.start}"
    raise BatchRefused(path, f"file is neither UTF-8 nor GB18030 ({last})")


def _scan(path: Path, encoding: str, max_line_bytes: int) -> TextScan:
    scan = TextScan(encoding)
    decoder = codecs.getincrementaldecoder(encoding)()
    chunk_size = min(1 << 20, max_line_bytes)  # a line inside one chunk is never too long
    offset, line_start, previous = 0, 0, b""
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_size):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise UnicodeDecodeError(exc.encoding, exc.object, offset + exc.start, offset + exc.end,
                                         exc.reason) from None
            first = chunk.find(b"\n")
            if first >= 0:  # only the line it ends can be long: the others fit inside this chunk
                ends = scan.newlines + 1
                crlf_first = (chunk[first - 1:first] if first else previous[-1:]) == b"\r"
                length = offset + first - line_start - crlf_first
                if length > max_line_bytes:
                    scan.long_lines[ends] = length
                last_nl = chunk.rfind(b"\n")
                scan.newlines += chunk.count(b"\n")
                scan.crlf += chunk.count(b"\r\n") + (first == 0 and previous[-1:] == b"\r")
                line_start = offset + last_nl + 1
            offset += len(chunk)
            previous = chunk
        decoder.decode(b"", final=True)
    if offset - line_start > max_line_bytes:  # the last line, without an ending
        scan.long_lines[scan.newlines + 1] = offset - line_start
    return scan


@contextmanager
def readable_copy(path: Path, scan: TextScan, folder: Path) -> Iterator[Path]:
    """``path`` itself when DuckDB can read it as it is, else a UTF-8 copy in ``folder`` (removed
    afterwards) in which mixed line endings are all "\\n" and every line too long is empty (the
    caller records it as a rejected record: DuckDB skips empty lines and would cut a long one,
    even inside a character)."""
    if not scan.mixed_endings and not scan.long_lines:  # only transcoding, at the codec's speed
        with utf8_copy(path, scan.encoding, folder) as transcoded, unglobbed(transcoded, folder) as readable:
            yield readable
        return
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f".kam-readable-{os.getpid()}-{next(_COPIES)}{path.suffix.lower()}"  # a plain name
    encoding = scan.encoding
    try:
        with path.open("rb") as src, copy.open("wb") as dst:
            for number, line in enumerate(src, start=1):
                if number in scan.long_lines:
                    dst.write(b"\n")
                    continue
                if scan.mixed_endings and line.endswith(b"\r\n"):
                    line = line[:-2] + b"\n"
                dst.write(line if encoding == "utf-8" else line.decode(encoding).encode("utf-8"))
        yield copy
    finally:
        copy.unlink(missing_ok=True)


GLOB_CHARACTERS = frozenset("*?[]{}")
_COPIES = itertools.count()  # copies and links made by this process get names of their own


@contextmanager
def unglobbed(path: Path, folder: Path) -> Iterator[Path]:
    """``path`` under a name DuckDB's readers take literally: they read a path with ``*``, ``?``,
    ``[`` or ``{`` as a glob pattern (a landing file ``b*.csv`` once loaded ``bb.csv``'s rows
    too). Such a path is read through a symbolic link with a plain name in ``folder``."""
    if not GLOB_CHARACTERS.intersection(str(path)):
        yield path
        return
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / f".kam-file-{os.getpid()}-{next(_COPIES)}{path.suffix.lower()}"
    link.unlink(missing_ok=True)
    link.symlink_to(path.resolve())
    try:
        yield link
    finally:
        link.unlink(missing_ok=True)


@contextmanager
def utf8_copy(path: Path, encoding: str, folder: Path, chunk_size: int = 1 << 22) -> Iterator[Path]:
    """``path`` itself when it is UTF-8, else a UTF-8 copy of it in ``folder`` (removed afterwards).

    Python's codec transcodes GB18030 at ~100 MB/s; DuckDB's ``encodings`` extension read the
    same CSV ~20× slower than it reads the UTF-8 copy (3.2 s against 0.27 s with the copy, for
    100k customers)."""
    if encoding in ("utf-8", "utf-8-sig"):
        yield path
        return
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f".kam-utf8-{os.getpid()}-{next(_COPIES)}{path.suffix.lower()}"  # a plain name (:func:`unglobbed`)
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
        with path.open("rb") as src, copy.open("w", encoding="utf-8", newline="") as dst:
            while chunk := src.read(chunk_size):
                dst.write(decoder.decode(chunk))
            dst.write(decoder.decode(b"", final=True))
        yield copy
    finally:
        copy.unlink(missing_ok=True)


def temp_directory(con: duckdb.DuckDBPyConnection) -> Path:
    """The connection's spill folder (``$KAM_HOME/tmp`` for the warehouse)."""
    configured = con.execute("select current_setting('temp_directory')").fetchone()[0]
    return Path(configured or ".tmp").resolve()


def _normalise_columns(path: Path, names: list[str]) -> list[str]:
    normalised = [n.strip().lower().lstrip("\ufeff") for n in names]
    seen: set[str] = set()
    for original, name in zip(names, normalised, strict=True):
        if not name:
            raise BatchRefused(path, f"a column has an empty name (header {names!r})")
        if name in seen:
            raise BatchRefused(path, f"column {original!r} appears twice (names are case-insensitive)")
        seen.add(name)
    return normalised


def _materialise(con: duckdb.DuckDBPyConnection, path: Path, table: str, relation_sql: str,
                 numbered: bool = False, originals: list[str] | None = None) -> list[str]:
    """Make ``table`` hold every column as trimmed text under its normalised name, plus ``_kam_row``.

    ``numbered``: the relation already has ``_kam_row``. Otherwise the rows are stored once in
    ``<table>_rows`` in file order and ``table`` is a view numbering them by position
    (``rowid + 1``), corrected later for rejected records: no second copy of the batch.
    ``originals``: the names as delivered, when the relation's columns are ``c0``, ``c1``, … in
    that order. Names come from data: they reach SQL only through :func:`quote_ident`.
    """
    described = [c for c in con.sql(f"select * from ({relation_sql}) limit 0").columns if c != "_kam_row"]
    originals = originals if originals is not None else described
    names = _normalise_columns(path, originals)
    if "_kam_row" in names:
        raise BatchRefused(path, "column name _kam_row is reserved")
    select = ", ".join(
        f"nullif(trim(cast({_q(column)} as varchar)), '') as {_q(name)}"
        for column, name in zip(described, names, strict=True)
    )
    _drop_temp(con, table)
    if numbered:
        con.execute(f"create temp table {table} as select _kam_row, {select} from ({relation_sql})")
    else:  # stored in file order (DuckDB preserves insertion order): rowid is the position
        con.execute(f"create or replace temp table {table}_rows as select {select} from ({relation_sql})")
        con.execute(f"create temp view {table} as select rowid + 1 as _kam_row, * from {table}_rows")
    return names


def _drop_temp(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop temp table or view ``name`` (the previous batch's may be either)."""
    for (kind,) in con.execute(
            "select 'view' from duckdb_views() where temporary and view_name = $1 "
            "union all select 'table' from duckdb_tables() where temporary and table_name = $1", [name]).fetchall():
        con.execute(f"drop {kind} {name}")


def _renumber_after_rejects(con: duckdb.DuckDBPyConnection, table: str, rejects: list[Reject]) -> None:
    """Shift ``_kam_row`` past the records the reader rejected (they are not in ``table``).

    With rejected ordinals r_1 < … < r_m, the i-th kept record is preceded by
    #{j : r_j − j < i} rejects: an ASOF join on the thresholds r_j − j.
    """
    if not rejects:
        return
    thresholds = sorted(r.row_number for r in rejects)
    values = ", ".join(f"({r - j}, {j})" for j, r in enumerate(thresholds, start=1))
    con.execute(
        f"create or replace temp view {table} as "
        f"select b.rowid + 1 + coalesce(t.k, 0) as _kam_row, b.* from {table}_rows b "
        f"asof left join (values {values}) as t(t, k) on b.rowid + 1 > t.t")


def duckdb_message(exc: BaseException, *replace: tuple[Path, Path]) -> str:
    """DuckDB's message whole, on one line, for the manifest and ``kam run``: its lines joined with
    " | ", each cut at 300 characters (DuckDB quotes the offending line, which may be megabytes);
    the path of a readable copy replaced by the delivered file's."""
    text = str(exc)
    for copy, original in replace:
        text = text.replace(str(copy), str(original))
    lines = [line if len(line) <= 300 else f"{line[:300]}… ({len(line):,} characters)"
             for line in text.splitlines() if line.strip()]
    return " | ".join(lines)


def _header(readable: Path, path: Path, options: ReadOptions) -> list[str]:
    """The header's names as delivered (line ``options.header_row``, read as CSV)."""
    with readable.open(encoding="utf-8", newline="") as fh:
        line = ""
        for _ in range(options.header_row):
            line = fh.readline()
    rows = list(csv.reader([line.lstrip("\ufeff").rstrip("\r\n")], delimiter=options.delimiter, quotechar='"'))
    return rows[0] if rows and rows[0] else []


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, table: str, max_line_bytes: int,
              options: ReadOptions = DEFAULT_OPTIONS) -> ReadResult:
    """The dialect is the contract's (comma, double quote, header line) or the source mapping's
    (delimiter, header line, encoding): nothing is sniffed. The header is read here; DuckDB reads
    the records below it as columns ``c0``, ``c1``, … of text."""
    header_line = options.header_row
    scan = scan_text(path, max_line_bytes, options.encoding)
    if header_line in scan.long_lines:
        raise BatchRefused(path, f"the header line has {scan.long_lines[header_line]:,} bytes, over the limit of "
                                 f"{max_line_bytes:,} (KAM_MAX_LINE_BYTES)")
    rejects_table, scans_table = f"{table}_reject_errors", f"{table}_reject_scans"
    con.execute(f"drop table if exists {rejects_table}; drop table if exists {scans_table}")
    with readable_copy(path, scan, temp_directory(con)) as readable:
        originals = _header(readable, path, options)
        if not originals:
            raise BatchRefused(path, "file has no header line" if header_line == 1 else
                                     f"line {header_line} (the header_row of the source mapping) is empty")
        columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(originals))) + "}"
        relation = (
            f"select * from read_csv({sql_string(str(readable))}, header=false, skip={header_line}, "
            f"auto_detect=false, columns={columns}, delim={sql_string(options.delimiter)}, quote='\"', "
            f"escape='\"', new_line={sql_string(scan.new_line)}, "
            f"max_line_size={max_line_bytes + 2}, store_rejects=true, "
            f"rejects_table={sql_string(rejects_table)}, rejects_scan={sql_string(scans_table)})"
        )
        try:
            names = _materialise(con, path, table, relation, originals=originals)
        except (duckdb.Error, UnicodeDecodeError) as exc:
            raise BatchRefused(path, f"cannot read as CSV: {duckdb_message(exc, (readable, path))}") from exc
    rows = con.sql(f"select count(*) from {table}").fetchone()[0]
    rejects = [
        Reject(row_number=int(line) - header_line, raw_line=raw or "", error=f"{etype}: {msg}")
        for line, raw, etype, msg in con.sql(
            f"select line, csv_line, error_type, error_message from {rejects_table} order by line"
        ).fetchall()
    ]
    rejects += [_too_long(number, size, max_line_bytes, path, header_lines=header_line)
                for number, size in scan.long_lines.items() if number > header_line]
    # One record can produce several errors: keep one reject per line.
    unique: dict[int, Reject] = {}
    for r in sorted(rejects, key=lambda r: r.row_number):
        unique.setdefault(r.row_number, r)
    _renumber_after_rejects(con, table, list(unique.values()))
    notes = [f"lines 1-{header_line - 1} above the header (line {header_line}) are not data"] if header_line > 1 else []
    return ReadResult("csv", scan.encoding, names, rows, list(unique.values()), notes, header_row=header_line)


def _too_long(line: int, size: int, limit: int, path: Path, header_lines: int = 1) -> Reject:
    """A line over ``KAM_MAX_LINE_BYTES``: kept as a reject with its first 1,000 bytes."""
    with path.open("rb") as fh:
        for number, text in enumerate(fh, start=1):
            if number == line:
                start = text[:1000].decode("utf-8", errors="replace")
                break
        else:
            start = ""
    return Reject(row_number=line - header_lines, raw_line=start,
                  error=f"LINE TOO LONG: {size:,} bytes, over the limit of {limit:,} (KAM_MAX_LINE_BYTES); "
                        f"its first 1,000 bytes are kept")


def _read_parquet(con: duckdb.DuckDBPyConnection, path: Path, table: str, max_line_bytes: int) -> ReadResult:
    with unglobbed(path, temp_directory(con)) as readable:
        relation = f"select * from read_parquet({sql_string(str(readable))})"
        try:
            columns = _materialise(con, path, table, relation)
        except duckdb.Error as exc:
            raise BatchRefused(path, f"cannot read as Parquet: {duckdb_message(exc, (readable, path))}") from exc
    rows = con.sql(f"select count(*) from {table}").fetchone()[0]
    return ReadResult("parquet", None, columns, rows)


def json_pointer(key: str) -> str:
    """A top-level key as a JSON Pointer (RFC 6901): any key, quotes and dots included."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _read_jsonl(con: duckdb.DuckDBPyConnection, path: Path, table: str, max_line_bytes: int) -> ReadResult:
    scan = scan_text(path, max_line_bytes)
    if scan.encoding != "utf-8":
        raise BatchRefused(path, "JSON Lines must be UTF-8")
    # One text column per line (0x1F cannot appear unescaped in JSON), then JSON in SQL:
    # a line that is not a JSON object becomes a reject instead of failing the file.
    lines = f"{table}_lines"
    with readable_copy(path, scan, temp_directory(con)) as readable:
        try:
            con.execute(
                f"create or replace temp table {lines} as select line from read_csv("
                f"{sql_string(str(readable))}, columns={{'line': 'VARCHAR'}}, header=false, delim=chr(31), "
                f"quote='', escape='', auto_detect=false, strict_mode=false, new_line={sql_string(scan.new_line)}, "
                f"max_line_size={max_line_bytes + 2})")
            con.execute(f"create or replace temp table {lines} as select rowid + 1 as n, line from {lines}")
        except (duckdb.Error, UnicodeDecodeError) as exc:
            raise BatchRefused(path, f"cannot read as JSON Lines: {duckdb_message(exc, (readable, path))}") from exc
    con.execute(f"delete from {lines} where line is null or trim(line) = ''")
    is_object = "(json_valid(line) and starts_with(ltrim(line), '{'))"
    rejects = [
        Reject(row_number=int(n), raw_line=line, error="not a complete JSON object (truncated or malformed line)")
        for n, line in con.sql(f"select n, line from {lines} where not coalesce({is_object}, false) "
                               f"order by n").fetchall()
    ]
    rejects += [_too_long(number, size, max_line_bytes, path, header_lines=0)
                for number, size in scan.long_lines.items()]
    rejects.sort(key=lambda r: r.row_number)
    # Keys are read as written (text), so "00123" stays "00123".
    keys = [k for (k,) in con.sql(
        f"select distinct unnest(json_keys(line)) as k from {lines} where {is_object} order by k"
    ).fetchall()]
    if not keys:
        raise BatchRefused(path, "file has no JSON records")
    select = ", ".join(f"json_extract_string(line, {sql_string(json_pointer(k))}) as c{i}"
                       for i, k in enumerate(keys))
    columns = _materialise(con, path, table, f"select n as _kam_row, {select} from {lines} "
                                             f"where {is_object} order by n", numbered=True, originals=keys)
    rows = con.sql(f"select count(*) from {table}").fetchone()[0]
    con.execute(f"drop table {lines}")
    return ReadResult("jsonl", scan.encoding, columns, rows, rejects)


def cell_text(value) -> str | None:
    """A workbook cell as the text a CSV export would hold: numbers without a float's noise
    (45356.0 as 45356, 0.1 as 0.1), dates and times in ISO 8601, booleans as true/false."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


OLE_SIGNATURE = bytes.fromhex("d0cf11e0a1b11ae1")  # an encrypted .xlsx is an OLE file, not a zip


def _open_workbook(path: Path):
    from python_calamine import CalamineWorkbook

    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # noqa: BLE001 - calamine's errors are plain exceptions: refuse the file
        with path.open("rb") as fh:
            head = fh.read(8)
        why = str(exc).strip() or type(exc).__name__
        if head == OLE_SIGNATURE and path.suffix.lower() in (".xlsx", ".xlsm"):
            why = ("it is encrypted (password-protected; an .xlsx saved with a password is not a zip "
                   f"archive): save it without a password ({why})")
        raise BatchRefused(path, f"cannot read as a workbook: {why}") from exc


def _sheets_to_read(path: Path, names: list[str], wanted: tuple[str | int, ...] | None) -> list[str]:
    if not names:
        raise BatchRefused(path, "the workbook has no sheet")
    if wanted is None:
        return names[:1]
    if "*" in wanted:
        return names
    chosen = []
    for want in wanted:
        if isinstance(want, int):
            if not 1 <= want <= len(names):
                raise BatchRefused(path, f"sheet {want} does not exist: the workbook has {len(names)} sheet(s) "
                                         f"({', '.join(names)})")
            chosen.append(names[want - 1])
        elif want in names:
            chosen.append(want)
        else:
            raise BatchRefused(path, f"no sheet named {want!r} (sheets: {', '.join(names)})")
    return chosen


def _read_workbook(con: duckdb.DuckDBPyConnection, path: Path, table: str, max_line_bytes: int,
                   options: ReadOptions = DEFAULT_OPTIONS) -> ReadResult:
    """An Excel workbook (.xlsx, .xlsm, .xls) through calamine (python-calamine, a Rust reader):
    the header on row ``options.header_row`` of each sheet read, the rows below it as records
    (empty rows are not records). Several sheets are one batch, their columns matched by header
    name; the sheets and their record numbers are noted for the manifest. Values become text as a
    CSV export would hold them (:func:`cell_text`); a row longer than ``max_line_bytes`` is a
    rejected record, as a long CSV line is."""
    import pyarrow as pa

    book = _open_workbook(path)
    header_row = options.header_row
    columns: list[str] = []  # the union of the sheets' headers, in order of appearance
    records: list[dict[str, str | None]] = []
    numbers: list[int] = []
    rejects: list[Reject] = []
    notes: list[str] = []
    record = 0
    for name in _sheets_to_read(path, list(book.sheet_names), options.sheets):
        try:
            rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except Exception as exc:  # noqa: BLE001 - a sheet calamine cannot decode: refuse the file
            raise BatchRefused(path, f"cannot read sheet {name!r}: {exc}") from exc
        if len(rows) < header_row or not any(cell_text(c) for c in rows[header_row - 1]):
            raise BatchRefused(path, f"sheet {name!r} has no header on row {header_row}"
                                     + ("" if header_row == 1 else " (header_row of the source mapping)"))
        header = [cell_text(c) or "" for c in rows[header_row - 1]]
        body = rows[header_row:]
        width = max([len(header), *(len(r) for r in body)])
        used = [i for i in range(width)
                if (i < len(header) and header[i]) or any(i < len(r) and cell_text(r[i]) for r in body)]
        for i in used:
            label = header[i] if i < len(header) else ""
            if not label:
                raise BatchRefused(path, f"sheet {name!r}: column {_excel_column(i)} has values but no header "
                                         f"on row {header_row}")
        first = record + 1
        for row in body:
            cells = {header[i]: cell_text(row[i]) if i < len(row) else None for i in used}
            if not any(cells.values()):
                continue  # an empty row is not a record
            record += 1
            size = sum(len(v.encode()) for v in cells.values() if v)
            if size > max_line_bytes:
                text = ",".join(v or "" for v in cells.values())
                rejects.append(Reject(record, text.encode()[:1000].decode("utf-8", errors="ignore"),
                                      f"ROW TOO LONG: {size:,} bytes, over the limit of {max_line_bytes:,} "
                                      f"(KAM_MAX_LINE_BYTES); its first 1,000 bytes are kept"))
                continue
            records.append(cells)
            numbers.append(record)
        for label in (header[i] for i in used):
            if label not in columns:
                columns.append(label)
        notes.append(f"sheet {name!r}: records {first}-{record} (header on row {header_row})"
                     if record >= first else f"sheet {name!r}: no records")
    if not columns:
        raise BatchRefused(path, "the workbook has no header")
    arrow = pa.table({"_kam_row": pa.array(numbers, pa.int64()),
                      **{f"c{i}": pa.array([r.get(c) for r in records], pa.string()) for i, c in enumerate(columns)}})
    con.register("_kam_workbook", arrow)
    try:
        names = _materialise(con, path, table, "select * from _kam_workbook", numbered=True, originals=columns)
    finally:
        con.unregister("_kam_workbook")
    fmt = "xls" if path.suffix.lower() == ".xls" else "xlsx"
    return ReadResult(fmt, None, names, len(records), rejects, notes if len(notes) > 1 or header_row > 1 else [])


def _excel_column(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: the column letters a person sees in Excel."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


READERS = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl, "xlsx": _read_workbook,
           "xls": _read_workbook}


def read_batch(con: duckdb.DuckDBPyConnection, path: Path, table: str = "_batch_text",
               max_line_bytes: int = 2_000_000, options: ReadOptions = DEFAULT_OPTIONS) -> ReadResult:
    """Read ``path`` into temp table ``table`` (text columns, file order).

    Raises :class:`BatchRefused` when the file cannot be a batch at all: unknown
    extension, empty, unreadable encoding, broken structure. A line longer than
    ``max_line_bytes`` is a rejected record (the file's other rows are read).
    ``options``: the source mapping's way of reading (format, encoding, delimiter, header row, sheets).
    """
    fmt = options.format or file_format(path)
    fail_read_if_asked(path.name)
    if path.stat().st_size == 0:
        raise BatchRefused(path, "file is empty (0 bytes)")
    reader = READERS[fmt]
    if fmt in ("csv", "xlsx", "xls"):
        result = reader(con, path, table, max_line_bytes, options)
    else:
        result = reader(con, path, table, max_line_bytes)
    if result.rows_read == 0:
        raise BatchRefused(path, "file has a header but no data rows")
    return result
