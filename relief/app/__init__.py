"""The composition root: the application factory, the CLI, the wiring between domains, the
table registry and migrations. The only package that imports every domain."""
