"""Epic Events CRM: a SQL-first command-line CRM on PostgreSQL."""

__version__ = "0.1.0"
