"""Tasks: the built-ins and the catalog that finds the project's own tasks."""
