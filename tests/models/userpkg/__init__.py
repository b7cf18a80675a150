"""A user's own package, as a study file's ``model.builder`` imports it."""
