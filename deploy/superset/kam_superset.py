"""Bootstrap Superset for kam and import the dashboard bundle (runs in .venv-bi).

  python kam_superset.py bootstrap   metadata DB, admin user, roles (idempotent)
  python kam_superset.py import      the bundle (bundle/), its database pointed at the published marts
  python kam_superset.py serve       the web server on KAM_SUPERSET_PORT (default 8088)

The bundle's database URI is a placeholder: `import` writes the one of this KAM_HOME.
DuckDB target: the published file, read-only, external access off (no read_csv of the
server's files from SQL Lab). PostgreSQL target (KAM_TARGET=postgres): KAM_BI_DSN, the
read-only role kam_bi on schema analytics.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUNDLE = HERE / "bundle"
URI_PLACEHOLDER = "__KAM_PUBLISHED_URI__"
EXTRA_PLACEHOLDER = "__KAM_ENGINE_EXTRA__"


def home() -> Path:
    kam_home = Path(os.environ.get("KAM_HOME") or HERE.parents[1] / ".kam").resolve()
    path = Path(os.environ.get("KAM_SUPERSET_HOME") or kam_home / "superset").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["KAM_SUPERSET_HOME"] = str(home())
    out["SUPERSET_CONFIG_PATH"] = str(HERE / "superset_config.py")
    out["FLASK_APP"] = "superset"
    out.setdefault("SUPERSET_ADMIN_PASSWORD", "admin")
    return out


def superset(*args: str) -> None:
    subprocess.run([str(Path(sys.executable).parent / "superset"), *args], env=env(), check=True)


def published_uri() -> tuple[str, str]:
    """The database URI and the engine's extra JSON for this KAM_HOME's published marts."""
    if (os.environ.get("KAM_TARGET") or "duckdb").lower() == "postgres":
        dsn = os.environ.get("KAM_BI_DSN")
        if not dsn:
            raise SystemExit("KAM_TARGET=postgres needs KAM_BI_DSN: postgresql://kam_bi:PASSWORD@host:5432/db")
        uri = dsn.replace("postgresql://", "postgresql+psycopg2://", 1)
        return uri, '{"engine_params": {"connect_args": {"options": "-c search_path=analytics"}}}'
    kam_home = Path(os.environ.get("KAM_HOME") or HERE.parents[1] / ".kam").resolve()
    path = kam_home / "published" / "analytics.duckdb"
    if not path.exists():
        raise SystemExit(f"no published file at {path}: run `kam run` (or `make demo`) first")
    # read-only, and DuckDB may not open any other file: SQL Lab cannot read_csv the server's files
    extra = ('{"engine_params": {"connect_args": {"read_only": true, '
             '"config": {"enable_external_access": false}}}, "allows_virtual_table_explore": true}')
    return f"duckdb:///{path}?access_mode=read_only", extra


def bootstrap() -> None:
    key = home() / "secret_key"
    if not key.exists():
        key.write_text(secrets.token_urlsafe(48))
        key.chmod(0o600)
    superset("db", "upgrade")
    user = os.environ.get("SUPERSET_ADMIN_USER", "admin")
    proc = subprocess.run([str(Path(sys.executable).parent / "superset"), "fab", "list-users"],
                          env=env(), capture_output=True, text=True)
    if f"username:{user} " not in proc.stdout and f"username:{user}\n" not in proc.stdout:
        superset("fab", "create-admin", "--username", user, "--firstname", "kam", "--lastname", "admin",
                 "--email", f"{user}@localhost", "--password", env()["SUPERSET_ADMIN_PASSWORD"])
    superset("init")


def bundle_zip(out: Path) -> Path:
    """The bundle as Superset's import wants it: one zip, one top folder, the URI filled in."""
    uri, extra = published_uri()
    postgres = uri.startswith("postgresql")
    with zipfile.ZipFile(out, "w") as zf:
        for path in sorted(BUNDLE.rglob("*.yaml")):
            # JSON is YAML: the engine's extra goes in as a flow mapping
            text = path.read_text(encoding="utf-8").replace(URI_PLACEHOLDER, uri).replace(EXTRA_PLACEHOLDER, extra)
            if postgres:  # the physical datasets live in schema analytics on the server
                text = text.replace("\nschema: main\n", "\nschema: analytics\n")
            zf.writestr(f"kam_dashboard/{path.relative_to(BUNDLE)}", text)
    return out


def import_bundle() -> None:
    path = bundle_zip(home() / "kam_dashboard.zip")
    superset("import-dashboards", "-p", str(path), "-u", os.environ.get("SUPERSET_ADMIN_USER", "admin"))


def serve() -> None:
    """Become the web server (exec: a signal to this process reaches Superset itself)."""
    port = os.environ.get("KAM_SUPERSET_PORT", "8088")
    exe = str(Path(sys.executable).parent / "superset")
    os.execve(exe, [exe, "run", "-h", os.environ.get("KAM_SUPERSET_HOST", "127.0.0.1"), "-p", port,
                    "--with-threads"], env())


if __name__ == "__main__":
    commands = {"bootstrap": bootstrap, "import": import_bundle, "serve": serve}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        raise SystemExit(__doc__)
    commands[sys.argv[1]]()
