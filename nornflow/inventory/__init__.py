"""The inventory layer: nornflow's fast YAML inventory plugin, its parse cache, and host filters.

``load_inventory`` reads Nornir's SimpleInventory files (hosts, groups, defaults); ``inventory_from_data``
builds one from mappings; ``YAMLInventory`` is the same as a Nornir inventory plugin.
"""

from nornflow.inventory.plugin import YAMLInventory, inventory_from_data, load_inventory

__all__ = ["YAMLInventory", "inventory_from_data", "load_inventory"]
