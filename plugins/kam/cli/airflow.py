"""``kam airflow``: the Airflow CLI on kam's Airflow home."""

from __future__ import annotations

import argparse
import subprocess

from kam.cli.common import (
    settings_from,
)


def cmd_airflow(args: argparse.Namespace) -> int:
    """Run the airflow CLI against kam's embedded Airflow home."""
    from kam.airflow.orchestrate import airflow_env, airflow_executable, ensure_airflow

    settings = settings_from(args)
    ensure_airflow(settings)
    return subprocess.call([airflow_executable(), *args.airflow_args], env=airflow_env(settings))
