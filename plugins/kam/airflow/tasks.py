"""What each Airflow task does. DAG files only declare; the work is here.

Every function takes the Airflow task context (a mapping) and returns a small
JSON-serialisable summary (it becomes the task's XCom). They can be called
without a running Airflow: tests pass a plain dict as context.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from kam.config import load_settings
from kam.memory import tracked
from kam.targets import target_of

log = logging.getLogger(__name__)


def _reports_peak_memory(task: Callable[..., dict]) -> Callable[..., dict]:
    """Add the task's peak memory to its summary: ``peak_rss_mb`` (the larger of this
    process since the task began and any child it ran, e.g. dbt), with the parts."""
    @functools.wraps(task)
    def wrapper(*args, **kwargs) -> dict:
        with tracked() as peak:
            summary = task(*args, **kwargs)
        log.info("peak RSS of the task: %s MB (task process %s MB, child processes %s MB)",
                 peak.mb, peak.process_mb, peak.children_mb)
        return {**summary, "peak_rss_mb": peak.mb, "peak_rss_mb_process": peak.process_mb,
                "peak_rss_mb_children": peak.children_mb}

    return wrapper


def _one_run_at_a_time(task: Callable[..., dict]) -> Callable[..., dict]:
    """The task holds the run lock of its KAM_HOME (kam.runlock) while it works, waiting for a
    ``kam run`` in progress; under ``kam run`` it inherits that run's lock."""
    @functools.wraps(task)
    def wrapper(*args, **kwargs) -> dict:
        from kam.runlock import run_lock

        context = kwargs.get("context", args[-1] if args else {})
        with run_lock(load_settings().kam_home, run_date_from(context), what=f"Airflow task {task.__name__}",
                      echo=log.warning):
            return task(*args, **kwargs)

    return wrapper


def _conf(context: Mapping[str, Any]) -> Mapping[str, Any]:
    return getattr(context.get("dag_run"), "conf", None) or context.get("conf") or {}


def run_date_from(context: Mapping[str, Any]) -> dt.date:
    """The run date: ``conf.run_date`` (kam run, REST trigger), else the run date the ingest
    tasks put on the asset events that triggered this run, else the logical date, else today."""
    conf = _conf(context)
    if conf.get("run_date"):
        return dt.date.fromisoformat(str(conf["run_date"]))
    events = context.get("triggering_asset_events") or {}
    dates = [str(e.extra["run_date"]) for asset in events for e in events[asset]
             if isinstance(getattr(e, "extra", None), dict) and e.extra.get("run_date")]
    if dates:
        return max(dt.date.fromisoformat(d) for d in dates)
    logical = context.get("logical_date")
    if logical is not None:
        return logical.date()
    return dt.date.today()


def full_refresh_from(context: Mapping[str, Any]) -> bool:
    """``conf.full_refresh`` (kam run --full-refresh, REST trigger): rebuild every model."""
    value = _conf(context).get("full_refresh", False)
    return value is True or str(value).lower() in ("true", "1", "yes")


def run_id_from(context: Mapping[str, Any]) -> str | None:
    return context.get("run_id") or getattr(context.get("dag_run"), "run_id", None)


def interval_from(context: Mapping[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The Airflow data interval of the run (None for manual or asset-triggered runs without one)."""
    def naive(value: Any) -> dt.datetime | None:
        if value is None:
            return None
        value = dt.datetime.fromisoformat(str(value)) if not isinstance(value, dt.datetime) else value
        return value.replace(tzinfo=None) if value.tzinfo is None else \
            value.astimezone(dt.UTC).replace(tzinfo=None)

    return naive(context.get("data_interval_start")), naive(context.get("data_interval_end"))


@_reports_peak_memory
@_one_run_at_a_time
def ingest_task(source: str, context: Mapping[str, Any]) -> dict:
    """Ingest every new landing file of ``source``; refused files are reported, not fatal."""
    from kam.ingest.batch import ingest_source

    settings = load_settings()
    run_date = run_date_from(context)
    results = ingest_source(settings, source, run_date, run_id_from(context))
    for r in results:
        if r.status == "refused":
            log.error("REFUSED %s", r.summary())
    unexpected = [r for r in results if r.batch_id is None and r.status == "refused"]
    if unexpected:  # a bug or an environment problem, not bad data: fail the task
        raise RuntimeError("; ".join(r.summary() for r in unexpected))
    synced = target_of(settings).sync_raw(source)
    _tell_downstream(context, f"kam.raw.{source}", run_date)
    return {
        "source": source,
        "synced_to_server": synced,
        "files": len(results),
        "batches": {r.path.name: r.status for r in results if r.status != "skipped"},
        "rows_loaded": sum(r.rows_loaded for r in results),
        "rows_quarantined": sum(r.rows_quarantined for r in results),
        "refused": [r.summary() for r in results if r.status == "refused"],
    }


def _tell_downstream(context: Mapping[str, Any], asset_name: str, run_date: dt.date, **extra: Any) -> None:
    """Put the run date (and ``extra``) on the asset event, so the DAG it schedules uses the same date."""
    outlet_events = context.get("outlet_events")
    if outlet_events is None:  # called without Airflow (tests)
        return
    from airflow.sdk import Asset

    outlet_events[Asset(asset_name)].extra = {"run_date": run_date.isoformat(), **extra}


@_reports_peak_memory
@_one_run_at_a_time
def dbt_build_task(context: Mapping[str, Any]) -> dict:
    """``dbt build`` (seeds, models, tests) on the working warehouse, incremental unless
    ``conf.full_refresh`` asks for a full rebuild; a failure refuses publication."""
    from kam.publish.ledger import record_refusal
    from kam.transform.docs import generate_docs
    from kam.transform.freshness import check_freshness
    from kam.transform.runner import build

    settings = load_settings()
    target = target_of(settings)
    run_date = run_date_from(context)
    target.prepare_dbt()
    freshness = check_freshness(settings, run_id_from(context))  # judged by the audit
    result, mode = build(settings, target, run_date, run_id_from(context), full_refresh=full_refresh_from(context))
    if not result.success:
        record_refusal(settings, run_id_from(context), run_date,
                       "dbt build failed: " + "; ".join(result.failures[:20]),
                       {"dbt": result.counts, "failed": result.failures}, interval_from(context))
        _fail(f"dbt build failed, publication refused: {'; '.join(result.failures[:5])}")
    docs = generate_docs(settings, mode.fingerprint)  # published with the next publication
    return {"dbt": result.counts, "mode": mode.name, "mode_reason": mode.reason,
            "warnings": result.warnings[:20], "docs": str(docs) if docs else None,
            "source_freshness": {c.source: c.status for c in freshness}}


@_reports_peak_memory
@_one_run_at_a_time
def audit_task(context: Mapping[str, Any]) -> dict:
    """GX suites on the marts + reconciliation; a failure refuses publication."""
    from kam.errors import ConfigError
    from kam.publish.ledger import record_refusal
    settings = load_settings()
    run_date = run_date_from(context)
    try:
        result = target_of(settings).audit(run_date, run_id_from(context))
    except ConfigError as exc:  # e.g. a published mart without its suite: refused before any check
        record_refusal(settings, run_id_from(context), run_date, f"audit configuration error: {exc}",
                       {"failed": [str(exc)]}, interval_from(context))
        _fail(f"audit configuration error, publication refused: {exc}")
    for warning in result.warnings:
        log.warning("audit warning: %s", warning)
    if not result.success:
        record_refusal(settings, run_id_from(context), run_date,
                       "audit failed: " + "; ".join(result.failed[:20]), result.summary(),
                       interval_from(context))
        _fail(f"audit failed, publication refused: {'; '.join(result.failed[:5])}")
    return result.summary()


@_reports_peak_memory
@_one_run_at_a_time
def publish_task(audit_summary: dict | None, context: Mapping[str, Any]) -> dict:
    """Publish the audited marts, then prove it: the task succeeds only when the ledger holds this
    run's publication as 'published' and the served marts carry it (under a scheduler too)."""
    from kam.faults import skip_if_asked
    from kam.publish.evidence import prove_publication

    skip_if_asked("publish")
    settings = load_settings()
    target = target_of(settings)
    pub = target.publish(run_id_from(context), run_date_from(context), audit_summary, interval_from(context))
    proven = prove_publication(settings, run_id_from(context), target, read_only=False, served_id=pub.served_id)
    if proven.publication_id != pub.publication_id:
        raise RuntimeError(f"publish made publication #{pub.publication_id}, but the ledger's latest for this "
                           f"run is #{proven.publication_id}")
    log.info("%s", proven.describe())
    _tell_downstream(context, "kam.published_marts", run_date_from(context), publication_id=pub.publication_id)
    return {"publication_id": pub.publication_id, "published_to": proven.served_at, "rows": pub.row_counts,
            "written": pub.written}


def _fail(message: str) -> None:
    """Fail the task without retries (retrying cannot fix bad data)."""
    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:  # called without Airflow (tests)
        raise RuntimeError(message) from None
    raise AirflowFailException(message)


@_reports_peak_memory
@_one_run_at_a_time
def notify_task(context: Mapping[str, Any]) -> dict:
    """Deliver the served publication's digests (kam.notify); without a notify.yml, nothing to do.
    A delivery that fails after its retries fails the task, naming the recipient and the answer."""
    from kam.notify.config import load_notify
    from kam.notify.deliver import notify_publication

    settings = load_settings()
    config = load_notify(settings.notify_path)
    if config is None:
        log.info("no notify configuration (KAM_NOTIFY or $KAM_HOME/notify.yml): no digest to send")
        return {"configured": False}
    events = context.get("triggering_asset_events") or {}
    announced = [e.extra.get("publication_id") for asset in events for e in events[asset]
                 if isinstance(getattr(e, "extra", None), dict)]
    result = notify_publication(settings, config)
    if announced and result.publication_id not in announced:
        log.info("publication(s) %s announced; #%s is served now and was notified", announced, result.publication_id)
    for line in result.lines():
        log.info("%s", line)
    return {"configured": True, "publication_id": result.publication_id, "sent": len(result.sent),
            "already_sent": result.already_sent, "unmapped": result.unmapped, "from_default": result.from_default}


def deadline_task(context: Mapping[str, Any], now: dt.datetime | None = None) -> dict:
    """The publication deadline: succeed when a publication finished today (machine time, as the
    ledger records it), else fail saying what was published last; the failure notifier tells on call."""
    from kam.publish.ledger import last_publications

    settings = load_settings()
    now = now or dt.datetime.now()
    today = dt.datetime.combine(now.date(), dt.time())
    published, refused = last_publications(settings)
    if published and published["finished_at"] and published["finished_at"] >= today:
        return {"publication_id": published["publication_id"], "finished_at": published["finished_at"].isoformat()}
    last = (f"the last is #{published['publication_id']} of {published['finished_at']:%Y-%m-%d %H:%M} "
            f"(run date {published['run_date']})" if published else "nothing has ever been published")
    since = (f"; refused since: #{refused['publication_id']} at {refused['finished_at']:%H:%M}: "
             f"{(refused['reason'] or '')[:300]}" if refused and refused["finished_at"] and
             refused["finished_at"] >= today else "")
    _fail(f"no publication today by the deadline ({now:%Y-%m-%d %H:%M}): {last}{since}")
    raise AssertionError("unreachable: _fail raises")
