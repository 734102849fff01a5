"""The platform every domain builds on: settings, database, errors, auth, idempotency, audit,
HTTP helpers and the generic create/patch/page helpers. It imports no domain."""
