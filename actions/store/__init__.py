"""The store: SQLAlchemy models, sessions, demo seeding and catalog import."""
