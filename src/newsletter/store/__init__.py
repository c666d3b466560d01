"""The store: the state database (SQLAlchemy Core) and the outbox folder."""
