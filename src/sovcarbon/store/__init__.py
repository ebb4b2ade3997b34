"""The ledger store: SQLAlchemy tables, Alembic migrations, the unit of work and its repository."""
