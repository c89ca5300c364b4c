"""Superset's configuration for the kam dashboard (loaded through SUPERSET_CONFIG_PATH).

Everything lives under KAM_SUPERSET_HOME (default $KAM_HOME/superset): the SQLite
metadata database and the secret key, made once by `kam_superset.py bootstrap`.
"""

import os
from pathlib import Path

_home = Path(os.environ["KAM_SUPERSET_HOME"])

SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY") or (_home / "secret_key").read_text().strip()
SQLALCHEMY_DATABASE_URI = f"sqlite:///{_home / 'superset.db'}"
DATA_DIR = str(_home)
# Superset must not let SQL Lab users open SQLite files or other local databases
PREVENT_UNSAFE_DB_CONNECTIONS = True
# no example data, no telemetry, no outbound calls
SUPERSET_LOAD_EXAMPLES = False
FEATURE_FLAGS = {"DASHBOARD_RBAC": False}
SCARF_ANALYTICS = False
# a small single-user server: an in-process cache, results kept a minute
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 60}
DATA_CACHE_CONFIG = CACHE_CONFIG
WTF_CSRF_ENABLED = True
TALISMAN_ENABLED = False
