"""A PostgreSQL server of the stack's own: its data folder, TCP on 127.0.0.1 only (no unix socket),
password authentication, a role `nas` owning one database per use. As root, the server runs as
user `postgres` and keeps its files in a folder of that user's (`server_folder`): a checkout in a
private folder (mode 0700, like root's home or `mktemp -d`) is one that user cannot enter."""

from __future__ import annotations

import hashlib
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


def _owner() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise StackError(
            f"running as root, but there is no `postgres` user to own the database; {INSTALL_HINT}."
        ) from None


def server_folder(home: Path) -> Path:
    """Where the stack whose data lives in `home` keeps PostgreSQL's files: `home`/postgres, or,
    as root, <home of user postgres>/nas-stacks/<a digest of `home`> (/var/tmp/nas-stacks where
    that user has no home folder)."""
    if os.geteuid() != 0:
        return home / "postgres"
    own_home = Path(_owner().pw_dir)
    base = own_home if own_home.is_dir() else Path("/var/tmp")
    return base / "nas-stacks" / hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]


def _as_owner(args: list[str]) -> list[str]:
    """initdb refuses to run as root: as root, run PostgreSQL's programs as user `postgres`."""
    if os.geteuid() != 0:
        return args
    _owner()
    return ["runuser", "-u", "postgres", "--", *args]


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        user = _owner()
        os.chown(path, user.pw_uid, user.pw_gid)


def _make(folder: Path) -> None:
    """The server's folder, its owner's alone (as root, its parent can be entered by anyone)."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            folder.parent.chmod(0o711)
        folder.mkdir(mode=0o700, exist_ok=True)
        _own(folder)
    except OSError as err:
        raise StackError(
            f"cannot make PostgreSQL's folder {folder} ({err.strerror}); set NAS_CLUSTER_DIR to "
            "a folder that user postgres can enter, or run the stack as a user other than root."
        ) from None


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
    _make(folder)
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
    """Stop the server of `folder` (if it runs), waiting for it to end."""
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
