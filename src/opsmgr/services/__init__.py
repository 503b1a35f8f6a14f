"""Use cases. Each public function is one transaction (`db.write()` or `db.read()`); the only callers of store/."""
