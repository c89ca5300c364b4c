"""What a publication wrote, per mart and month partition: row count and sum of row hashes.

Stored in ``ops.publication_fingerprints``; the next publication compares the warehouse's
marts with the served file's fingerprints and rewrites only the partitions that differ.
"""

from __future__ import annotations

import duckdb

from kam.marts import PUBLICATION_PARTITIONS, PUBLISHED_MARTS, partition_filter_sql, partition_key_sql

Fingerprints = dict[str, tuple[int, int]]  # partition -> (rows, sum of row hashes)


State = tuple[str, Fingerprints]  # (columns with types, fingerprints)


def mart_fingerprints(con: duckdb.DuckDBPyConnection, relation: str, mart: str,
                  parts: list[str] | None = None) -> Fingerprints:
    select = f"select {partition_key_sql(mart)}, count(*), sum(hash(t)::hugeint) from {relation} t"
    if parts is None:
        rows = con.execute(f"{select} group by 1").fetchall()
    else:
        rows = [row for part in parts
                for row in con.execute(f"{select} where {partition_filter_sql(mart, part)} group by 1").fetchall()]
    return {part: (n, int(h)) for part, n, h in rows}


def mart_state(con: duckdb.DuckDBPyConnection, relation: str, mart: str) -> State:
    columns = ", ".join(f"{name} {kind}" for name, kind, *_ in con.execute(f"describe {relation}").fetchall())
    return columns, mart_fingerprints(con, relation, mart)


def served_state(con: duckdb.DuckDBPyConnection, served: int | None, full_every: int
                 ) -> tuple[dict[str, State] | None, int, int | None]:
    """What the served publication ``served`` holds (its fingerprints), how many delta
    publications led to it, and its publication id; None when they are not known (or
    ``full_every``, KAM_PUBLISH_FULL_EVERY, is 1: everything written from scratch)."""
    if served is None or full_every <= 1:
        return None, 0, None
    rows = con.execute("select mart, columns, part, rows, fingerprint, delta_chain "
                       "from ops.publication_fingerprints where publication_id = ?", [served]).fetchall()
    base: dict[str, State] = {}
    chain = 0
    for mart, columns, part, n, fingerprint, delta_chain in rows:
        chain = delta_chain
        _, parts = base.setdefault(mart, (columns, {}))
        if part != "*":  # '*' only carries the columns of a mart (an empty one has no partitions)
            parts[part] = (n, int(fingerprint))
    if set(base) != set(PUBLISHED_MARTS):
        return None, 0, None
    return base, chain, served


def store_fingerprints(con: duckdb.DuckDBPyConnection, pub_id: int, states: dict[str, State],
                       chain: int, keep_publications: int) -> None:
    rows = [(pub_id, mart, columns, part, n, fingerprint, chain)
            for mart, (columns, parts) in states.items()
            for part, (n, fingerprint) in [("*", (sum(v[0] for v in parts.values()), 0)), *parts.items()]]
    con.execute("delete from ops.publication_fingerprints where publication_id = ?", [pub_id])
    con.executemany("insert into ops.publication_fingerprints (publication_id, mart, columns, part, rows, "
                    "fingerprint, delta_chain) values (?, ?, ?, ?, ?, ?, ?)", rows)
    # keep the fingerprints of the publications a rollback can still serve
    con.execute("""delete from ops.publication_fingerprints where publication_id not in (
                       select publication_id from ops.publications where status in ('published', 'publishing')
                       order by publication_id desc limit ?)""", [keep_publications + 2])


def changed_parts(mart: str, current: State, base: State | None) -> list[str] | None:
    """The partitions of ``mart`` whose fingerprint differs from the served file's ([] when
    none), or None when it must be written whole (no usable base, other columns, or a mart
    that is not partitioned and changed)."""
    if base is None or base[0] != current[0]:
        return None
    if base == current:
        return []
    if mart not in PUBLICATION_PARTITIONS:
        return None
    parts, served = current[1], base[1]
    return sorted({p for p in parts if served.get(p) != parts[p]} | {p for p in served if p not in parts})
