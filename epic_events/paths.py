"""Where the SQL lives, in an installed package or in a checkout.

A wheel or sdist carries the top-level sql/ folder as package data,
epic_events/sql (pyproject.toml maps it there at build time); a checkout or an
editable install reads the top-level sql/ beside the package.
"""

from pathlib import Path

_here = Path(__file__).resolve().parent
_installed, _checkout = _here / "sql", _here.parent / "sql"
SQL_DIR = _installed if (_installed / "migrations").is_dir() else _checkout
MIGRATIONS_DIR = SQL_DIR / "migrations"
QUERIES_DIR = SQL_DIR / "queries"


def latest_migration() -> str:
    """The newest migration this installation carries: the schema it was built for."""
    from . import errors

    ids = [
        p.name.removesuffix(".sql")
        for p in MIGRATIONS_DIR.glob("*.sql")
        if not p.name.endswith(".rollback.sql")
    ]
    if not ids:
        raise errors.AppError(
            f"no migrations in {MIGRATIONS_DIR}: this installation of epic-events is incomplete; reinstall it"
        )
    return max(ids)
