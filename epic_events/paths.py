"""Where the SQL lives, in a checkout or an installed package."""

from pathlib import Path

_here = Path(__file__).resolve().parent
# An editable install or a checkout keeps sql/ beside the package.
SQL_DIR = _here / "sql" if (_here / "sql").is_dir() else _here.parent / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
QUERIES_DIR = SQL_DIR / "queries"
