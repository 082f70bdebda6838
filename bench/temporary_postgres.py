"""A throwaway PostgreSQL database for one benchmark run, shared by the benchmarks."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit


@contextmanager
def temporary_postgres(admin_url: str, prefix: str = "toxsite_bench") -> Iterator[str]:
    """Create a database on the server at ``admin_url``, yield its URL, and drop it (connections and all)."""
    import psycopg

    name = f"{prefix}_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
