"""Persistence: the only package that imports SQLAlchemy. Schema, transactions, repositories, migrations."""
