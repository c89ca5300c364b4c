"""Deliver a publication's digests exactly once per recipient, channel and part (``kam notify``, the
``notify`` DAG).

``ops.notifications`` records every delivery: publication, recipient, channel, part, status
(``sent``, ``failed``, ``unmapped``), attempts and the server's answer. A part already ``sent`` is
never sent again (a rerun, a retried task, a second ``kam notify``); a failed one is tried again
up to ``retries`` more times, waiting ``backoff_seconds`` doubled after each failure, and then
recorded ``failed`` with the answer: the call raises :class:`NotifyFailed` naming each recipient
and answer, so the task fails, and ``kam status`` lists it. A manager without an entry in
notify.yml is told through ``default``; without a ``default``, the digest is recorded
``unmapped`` and reported (never skipped in silence). A digest with no news is not sent.

What was delivered is at least once for a crash between a service's answer and the ledger row
(the row is written right after each answer; the window is that one request).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

import duckdb

from kam.config import Settings
from kam.notify.channels import DeliveryError, channel
from kam.notify.config import LEADERSHIP, NotifyConfig
from kam.notify.digest import Digest, build_digests, served_sources
from kam.notify.render import Message, chat, mail
from kam.warehouse import tables_in, warehouse

log = logging.getLogger(__name__)


class NotifyFailed(RuntimeError):
    """Some digests could not be delivered (each named with the server's answer)."""

    def __init__(self, message: str, result: NotifyResult):
        super().__init__(message)
        self.result = result


@dataclass
class NotifyResult:
    publication_id: int
    digests: list[Digest]
    sent: list[str] = field(default_factory=list)  # "recipient via channel (part n/m)"
    already_sent: int = 0
    failed: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)  # managers with no entry and no default
    from_default: list[str] = field(default_factory=list)  # managers told through `default`

    def lines(self) -> list[str]:
        news = [d for d in self.digests if d.items]
        out = [f"digests of publication #{self.publication_id}: {len(news)} with news of {len(self.digests)} "
               f"recipients; sent {len(self.sent)} message(s), {self.already_sent} already sent before"]
        by_answer: dict[str, list[str]] = {}
        for failure in self.failed:  # "recipient via channel: answer", grouped by answer
            label, _, answer = failure.partition(": ")
            by_answer.setdefault(answer, []).append(label)
        for answer, labels in by_answer.items():
            shown = ", ".join(labels[:8]) + (f" and {len(labels) - 8} more" if len(labels) > 8 else "")
            out.append(f"  ! not delivered: {shown}: {answer}")
        if self.unmapped:
            out.append(f"  ! no recipient (no entry in notify.yml and no default): {', '.join(self.unmapped)}")
        if self.from_default:
            out.append(f"  managers without an entry, told through `default`: {', '.join(self.from_default)}")
        return out


def notify_publication(settings: Settings, config: NotifyConfig, publication_id: int | None = None,
                       dry_run: bool = False, echo=None) -> NotifyResult:
    """Build and deliver the digests of the served publication (``publication_id`` must be it)."""
    served, served_con, relations = served_sources(settings)
    if publication_id is not None and publication_id != served:
        raise ValueError(f"publication #{publication_id} is not the one served (#{served}): digests are built from "
                         f"the served publication's marts")
    with warehouse(settings, read_only=dry_run) as con:
        status = con.execute("select status from ops.publications where publication_id = ?", [served]).fetchone()
        if not status or status[0] != "published":
            raise ValueError(f"publication #{served} is not recorded as published ({status and status[0]})")
        digests = build_digests(con, config, served, (served_con, relations))
        if not dry_run:
            for digest in digests:  # what each recipient knows after this publication's digest
                con.execute("delete from ops.notified_alerts where publication_id = ? and recipient = ?",
                            [served, digest.recipient])
                if digest.known:
                    con.executemany("insert into ops.notified_alerts values (?, ?, ?, ?, ?)",
                                    [(served, digest.recipient, c, t, b) for c, t, b in digest.known])
        done = {tuple(r) for r in con.execute(
            "select recipient, channel, part from ops.notifications where publication_id = ? and status = 'sent'",
            [served]).fetchall()} if "notifications" in tables_in(con, "ops") else set()
    result = NotifyResult(served, digests)
    report = config.report_url or str(settings.report_path)
    down: set[str] = set()
    told: set[str] = set()  # recipients whose digest went out on at least one channel
    for digest in digests:
        if not digest.items:
            continue
        routes = config.leadership if digest.recipient == LEADERSHIP else config.routes_for(digest.recipient)[0]
        if digest.from_default and routes:
            result.from_default.append(digest.recipient)
        if not routes:
            result.unmapped.append(digest.recipient)
            if not dry_run:
                _record(settings, served, digest, "-", 1, 1, "unmapped", 0, "no entry in notify.yml and no default")
            continue
        for name, addresses in routes.items():
            target = channel(config.channels[name])
            messages = [mail(digest, report)] if target.limit is None else \
                chat(digest, report, target.limit, markdown=target.markdown)
            for message in messages:
                label = f"{digest.recipient} via {name}" + (f" (part {message.part}/{message.parts})"
                                                             if message.parts > 1 else "")
                if (digest.recipient, name, message.part) in done:
                    result.already_sent += 1
                    told.add(digest.recipient)
                    continue
                if dry_run:
                    if echo:
                        echo(f"--- {label}: {message.subject}\n{message.text}")
                    continue
                # a channel that failed every attempt in this run gets one attempt per later message:
                # a server that is down costs one back-off, not one per recipient
                ok, attempts, answer = _send(target, message, addresses, config, retry=name not in down)
                if not ok:
                    down.add(name)
                _record(settings, served, digest, name, message.part, message.parts, "sent" if ok else "failed",
                        attempts, answer)
                (result.sent if ok else result.failed).append(label if ok else f"{label}: {answer}")
                if ok:
                    told.add(digest.recipient)
    untold = [d.recipient for d in digests if d.items and d.recipient not in told]
    if untold and not dry_run:  # nobody heard it: the next digest compares with what they did hear
        with warehouse(settings) as con:
            con.executemany("delete from ops.notified_alerts where publication_id = ? and recipient = ?",
                            [(served, r) for r in untold])
    if result.failed:
        raise NotifyFailed("digests not delivered: " + "; ".join(result.failed[:10])
                           + (f" (and {len(result.failed) - 10} more)" if len(result.failed) > 10 else ""), result)
    return result


def _send(target, message: Message, addresses: tuple[str, ...], config: NotifyConfig,
          retry: bool = True) -> tuple[bool, int, str]:
    wait, answer = config.backoff_seconds, ""
    retries = config.retries if retry else 0
    for attempt in range(1, retries + 2):
        try:
            return True, attempt, target.send(message, addresses)
        except DeliveryError as exc:
            answer = str(exc)
            log.warning("delivery via %s failed (attempt %s of %s): %s", target.spec.name, attempt, retries + 1,
                        answer)
        except Exception as exc:  # noqa: BLE001 - e.g. a reference that cannot be resolved
            return False, attempt, f"{type(exc).__name__}: {exc}"
        if attempt <= retries:
            time.sleep(wait)
            wait *= 2
    return False, retries + 1, answer


def _record(settings: Settings, pub: int, digest: Digest, channel_name: str, part: int, parts: int, status: str,
            attempts: int, answer: str) -> None:
    with warehouse(settings) as con:
        con.execute("delete from ops.notifications where publication_id = ? and recipient = ? and channel = ? "
                    "and part = ?", [pub, digest.recipient, channel_name, part])
        con.execute("insert into ops.notifications values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [pub, digest.recipient, channel_name, part, parts, status, attempts, len(digest.items),
                     digest.more, answer[:1000], dt.datetime.now()])


def notify_status(settings: Settings, con) -> dict | None:
    """What ``kam status`` says about digests: the configuration, the latest notified publication,
    deliveries that failed or had nobody to go to, and managers told through ``default``."""
    from kam.errors import ConfigError
    from kam.notify.config import load_notify

    if settings.notify_path is None:
        return None
    out: dict = {"config": str(settings.notify_path)}
    try:
        config = load_notify(settings.notify_path)
    except ConfigError as exc:
        out["error"] = str(exc)
        return out
    try:
        rows = con.execute("select publication_id, recipient, status from ops.notifications where publication_id = "
                           "(select max(publication_id) from ops.notifications)").fetchall()
    except duckdb.CatalogException:
        rows = []
    out["publication_id"] = rows[0][0] if rows else None
    out["sent"] = sum(1 for r in rows if r[2] == "sent")
    out["problems"] = delivery_problems(con)
    out["from_default"] = sorted({r[1] for r in rows if r[1] not in config.managers and not r[1].startswith("(")
                                  and r[2] != "unmapped"})
    return out


def delivery_problems(con, limit: int = 20) -> list[str]:
    """Failed and unmapped deliveries of the latest notified publication (for ``kam status``), one
    line per channel and answer, naming the recipients."""
    try:
        rows = con.execute(
            "select publication_id, channel, status, answer, list(recipient order by recipient), "
            "max(attempts) from ops.notifications where status <> 'sent' and publication_id = "
            "(select max(publication_id) from ops.notifications) group by all order by 2, 4 limit ?",
            [limit]).fetchall()
    except duckdb.CatalogException:  # a warehouse that never notified
        return []
    out = []
    for pub, name, status, answer, recipients, attempts in rows:
        shown = ", ".join(recipients[:8]) + (f" and {len(recipients) - 8} more" if len(recipients) > 8 else "")
        out.append(f"publication #{pub}: {shown} via {name}: failed after {attempts} attempt(s): {answer}"
                   if status == "failed" else f"publication #{pub}: {shown}: no recipient ({answer})")
    return out
