"""A PostgreSQL server of the stack's own: its data folder, TCP on 127.0.0.1 only (no unix socket),
password authentication, a role `nas` owning one database per use."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from cluster.procs import StackError, run

INSTALL_HINT = (
    "install the Debian package (apt-get install postgresql) or put PostgreSQL's "
    "bin folder (initdb, pg_ctl, psql) on PATH"
)


def binaries() -> Path:
    """The folder of initdb/pg_ctl/psql: on PATH, else Debian's newest /usr/lib/postgresql/N/bin;
    installs Debian's postgresql package when running as root and none is found."""
    on_path = shutil.which("pg_ctl")
    if on_path and all(
        (Path(on_path).resolve().parent / tool).exists() for tool in ("initdb", "psql")
    ):
        return Path(on_path).resolve().parent
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
        run(
            ["apt-get", "install", "-y", "-qq", "postgresql"],
            "apt-get install postgresql",
            env=env,
            timeout=600,
        )
        return binaries()
    raise StackError(f"no PostgreSQL server programs found; {INSTALL_HINT}.")


def _as_owner(args: list[str]) -> list[str]:
    """initdb refuses to run as root: as root, run PostgreSQL's programs as user `postgres`."""
    if os.geteuid() != 0:
        return args
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise StackError(
            f"running as root, but there is no `postgres` user to own the database; {INSTALL_HINT}."
        ) from None
    return ["runuser", "-u", "postgres", "--", *args]


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)


def running(folder: Path) -> bool:
    data = folder / "data"
    if not (data / "PG_VERSION").exists():
        return False
    done = subprocess.run(
        _as_owner([str(binaries() / "pg_ctl"), "-D", str(data), "status"]),
        capture_output=True,
        text=True,
    )
    return done.returncode == 0


def _init(folder: Path, secrets: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _own(folder)
    pwfile = folder / "pwfile"
    pwfile.write_text(secrets["postgres_password"] + "\n")
    _own(pwfile)
    pwfile.chmod(0o600)
    try:
        run(
            _as_owner(
                [
                    str(binaries() / "initdb"),
                    "-D",
                    str(folder / "data"),
                    "-U",
                    "postgres",
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ]
            ),
            "initdb",
            timeout=300,
        )
    finally:
        pwfile.unlink()


def _sql(port: int, secrets: dict[str, str], statement: str, database: str = "postgres") -> str:
    env = {**os.environ, "PGPASSWORD": secrets["postgres_password"]}
    return run(
        [
            str(binaries() / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-tAc",
            statement,
        ],
        "psql",
        env=env,
    ).strip()


def _create(port: int, secrets: dict[str, str], databases: tuple[str, ...]) -> None:
    password = secrets["db_password"].replace("'", "''")
    if not _sql(port, secrets, "SELECT 1 FROM pg_roles WHERE rolname = 'nas'"):
        _sql(port, secrets, f"CREATE ROLE nas LOGIN PASSWORD '{password}'")
    for name in databases:
        if not _sql(port, secrets, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
            _sql(port, secrets, f"CREATE DATABASE {name} OWNER nas")


def start(folder: Path, port: int, secrets: dict[str, str], databases: tuple[str, ...]) -> None:
    """Initialise (once), start (unless running) and create the role and databases."""
    folder = folder.resolve()
    if not (folder / "data" / "PG_VERSION").exists():
        _init(folder, secrets)
    if not running(folder):
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories=''"
        run(
            _as_owner(
                [
                    str(binaries() / "pg_ctl"),
                    "-D",
                    str(folder / "data"),
                    "-l",
                    str(folder / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            "pg_ctl start",
            timeout=90,
        )
    _create(port, secrets, databases)


def stop(folder: Path) -> None:
    if running(folder):
        run(
            _as_owner(
                [
                    str(binaries() / "pg_ctl"),
                    "-D",
                    str(folder.resolve() / "data"),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ]
            ),
            "pg_ctl stop",
            timeout=90,
        )
