"""Pure domain logic: no I/O, no web, no database. Imports nothing of ours but `opsmgr.errors`."""
