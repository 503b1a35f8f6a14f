"""HTTP layer (FastAPI): parse, call a service, serialize. No business rules, no SQL."""
