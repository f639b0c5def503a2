"""A throwaway PostgreSQL cluster on a free loopback port, for the benchmarks.

Started the way `scripts/test` starts the test suite's: `initdb -A trust` in a temporary folder
and `pg_ctl start` on 127.0.0.1, as the `postgres` user when we are root (initdb and pg_ctl
refuse to run as root). Unlike the tests' cluster, this one is durable by default (fsync and
synchronous_commit on, as a real deployment would run); `extra_settings` can change that.

    with throwaway_cluster() as url:        # postgresql+psycopg://postgres@127.0.0.1:PORT/bench
        ...

`BENCH_DATABASE_URL` given: that database is used instead, nothing is started (it must be empty
or disposable: the benchmarks drop and recreate its public schema).
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from typing import Iterator, Mapping

import sqlalchemy as sa

# A benchmark's settings: a larger buffer cache than the default 128 MB (the machine has 24 GiB),
# enough connections for gunicorn workers, a scheduler and the benchmark itself.
DEFAULT_SETTINGS = {
    "shared_buffers": "1GB",
    "max_connections": "200",
    "work_mem": "16MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
}


def pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: [int(x) if x.isdigit() else x for x in p.split("/")])
    if not found:
        raise SystemExit("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): "
                         "apt-get install postgresql")
    return os.path.dirname(found[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    def __init__(self, extra_settings: Mapping[str, str] | None = None):
        self.bin = pg_bin()
        self.root = tempfile.mkdtemp(prefix="bench-pg.")
        self.data = os.path.join(self.root, "data")
        self.port = free_port()
        self.settings = {**DEFAULT_SETTINGS, **(extra_settings or {})}
        self.started = False
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_owner, *args], cwd=self.root, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def start(self) -> str:
        try:
            self._run(f"{self.bin}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--encoding=UTF8",
                      "--locale=C.UTF-8")
        except subprocess.CalledProcessError:
            shutil.rmtree(self.data, ignore_errors=True)
            self._run(f"{self.bin}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--encoding=UTF8",
                      "--no-locale")
        options = [f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}"]
        options += [f"-c {name}={value}" for name, value in self.settings.items()]
        self._run(f"{self.bin}/pg_ctl", "-D", self.data, "-l", os.path.join(self.root, "log"), "-w",
                  "-o", " ".join(options), "start")
        self.started = True
        self._run(f"{self.bin}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "bench")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/bench"

    def stop(self) -> None:
        if self.started:
            try:
                self._run(f"{self.bin}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
            except subprocess.CalledProcessError:
                pass
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)


def reset_schema(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@contextmanager
def throwaway_cluster(extra_settings: Mapping[str, str] | None = None) -> Iterator[str]:
    """The URL of an empty database: BENCH_DATABASE_URL (its schema reset), or a new cluster."""
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        reset_schema(given)
        yield given
        return
    global ACTIVE
    cluster = Cluster(extra_settings)
    try:
        url = cluster.start()
        ACTIVE = cluster
        yield url
    finally:
        ACTIVE = None
        cluster.stop()


ACTIVE: Cluster | None = None


def postgres_pids() -> list[int]:
    """The postmaster and its children (backends, checkpointer, WAL writer...) of our cluster."""
    if ACTIVE is None:
        return []
    from bench.loadgen import children_of
    with open(os.path.join(ACTIVE.data, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    return [postmaster, *children_of(postmaster)]


def server_settings(url: str) -> dict[str, str]:
    """The settings that shape the figures, to print beside them."""
    engine = sa.create_engine(url)
    names = ("server_version", "fsync", "synchronous_commit", "shared_buffers")
    with engine.connect() as connection:
        found = {name: connection.execute(sa.text(f"SHOW {name}")).scalar() for name in names}
    engine.dispose()
    return found


def parse_settings(pairs: list[str] | None) -> dict[str, str]:
    """`--pg name=value` options."""
    settings = {}
    for pair in pairs or []:
        name, _, value = pair.partition("=")
        settings[name.strip()] = value.strip()
    return settings
