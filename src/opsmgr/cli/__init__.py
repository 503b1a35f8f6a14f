"""The `opsmgr` command."""
