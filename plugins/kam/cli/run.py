"""``kam run``: ingest, build, audit and publish once through the DAGs, judged from the evidence."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from kam.cli.common import (
    settings_from,
)
from kam.config import Settings


def cmd_run(args: argparse.Namespace) -> int:
    from kam.airflow.orchestrate import run_pipeline

    settings = settings_from(args)
    if not settings.landing_dir.is_dir():
        print(f"error: landing folder {settings.landing_dir} does not exist "
              f"(create it, use --landing DIR, or run `kam generate`)", file=sys.stderr)
        return 2
    run_date = args.date or dt.date.today()
    from kam.sources import load_mappings

    mappings = load_mappings(settings.sources_path)  # a bad mapping is refused before any DAG runs
    print(f"kam run: landing {settings.landing_dir}, run date {run_date}, state in {settings.kam_home}, "
          f"target {settings.target}" + (f", source mapping {mappings.path}" if mappings.path else ""))
    from kam.targets import target_of

    target_of(settings).check_machine()  # before any DAG runs: e.g. no Java is a setup error, not a failed task
    from kam.runlock import RunLocked

    try:
        outcomes = run_pipeline(settings, run_date, full_refresh=args.full_refresh, wait=not args.no_wait)
    except RunLocked as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return settle_run(settings, run_date, outcomes)


def settle_run(settings: Settings, run_date: dt.date, outcomes: list, echo_published: bool = True) -> int:
    """Judge a pipeline run from its evidence (every task of both DAGs 'success', and the
    publication this run made recorded and served), print what happened and remember it for
    ``kam status``. 0 only when all of that is proven."""
    from kam.airflow.orchestrate import DAG_ORDER
    from kam.publish.evidence import PublicationNotProven, prove_publication
    from kam.status.last_run import record_last_run, run_batch_problems
    from kam.targets import target_of

    notified = next((o for o in outcomes if o.dag_id == "notify"), None)
    outcomes = [o for o in outcomes if o.dag_id != "notify"]
    ingest_run = next((o.run_id for o in outcomes if o.dag_id == "ingest"), None)
    problems = run_batch_problems(settings, ingest_run)
    for line in problems:
        print(f"  ! {line}")
    failed = [o for o in outcomes if not o.success]
    if not failed and len(outcomes) < len(DAG_ORDER):  # never an unfinished run called a success
        failed_text = f"only {', '.join(o.dag_id for o in outcomes) or 'no DAG'} of {', '.join(DAG_ORDER)} ran"
        reasons, log_path = [failed_text], None
    elif failed:
        reasons, log_path = failed[0].errors, failed[0].log_path
        failed_text = f"DAG {failed[0].dag_id}"
    else:
        try:
            proven = prove_publication(settings, outcomes[-1].run_id, target_of(settings))
        except PublicationNotProven as exc:
            reasons, log_path, failed_text = [str(exc)], outcomes[-1].log_path, "no publication"
        else:
            record_last_run(settings, run_date, True, f"published #{proven.publication_id}", problems,
                            proven.publication_id)
            if echo_published:
                from kam.whatif.adopt import publication_rules_note

                print("\n" + proven.describe())
                note = publication_rules_note(settings, proven.publication_id)
                if note:
                    print(note)
                print_report(settings)
            return _settle_digests(settings, notified, proven.publication_id)
    print(f"\nFAILED: {failed_text}. The served marts were not changed by this run.", file=sys.stderr)
    for line in reasons[:10]:
        print(f"  {line[:600]}", file=sys.stderr)
    if log_path:
        print(f"  full log: {log_path}", file=sys.stderr)
    print("  see also: kam status", file=sys.stderr)
    record_last_run(settings, run_date, False, f"FAILED: {failed_text}: {'; '.join(reasons[:3])}"[:1500],
                    problems, None)
    return 1


def _settle_digests(settings: Settings, outcome, publication_id: int) -> int:
    """After a proven publication: what the notify DAG delivered (when digests are configured)."""
    if settings.notify_path is None:
        return 0
    from kam.notify.deliver import notify_status
    from kam.warehouse import warehouse

    with warehouse(settings, read_only=True) as con:
        state = notify_status(settings, con) or {}
    if outcome is not None and outcome.success:
        sent = state.get("sent", 0) if state.get("publication_id") == publication_id else 0
        print(f"digests: {sent} message(s) sent for publication #{publication_id} (each once: ops.notifications)")
        for line in state.get("problems", []):
            print(f"  ! {line}")
        if state.get("from_default"):
            print("  managers without an entry in notify.yml, told through default: "
                  + ", ".join(state["from_default"]))
        return 0
    print(f"\nFAILED: DAG notify: publication #{publication_id} is published and served, but its digests were not "
          f"all delivered.", file=sys.stderr)
    if not state.get("problems"):  # else the ledger's lines say it better than the log's
        for line in (outcome.errors if outcome else ["the notify DAG did not run"])[:10]:
            print(f"  {line[:600]}", file=sys.stderr)
    for line in state.get("problems", []):
        print(f"  ! {line}", file=sys.stderr)
    if outcome is not None:
        print(f"  full log: {outcome.log_path}", file=sys.stderr)
    print("  kam notify sends what is missing (nothing twice); see also: kam status", file=sys.stderr)
    return 1


def print_report(settings) -> None:
    if settings.report_path.exists():
        print(f"report: {settings.report_path}  (open it in a browser; kam report writes another month)")
