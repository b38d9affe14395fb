"""The workflow layer: YAML workflow files to models, the task catalog, and the built-in tasks."""
