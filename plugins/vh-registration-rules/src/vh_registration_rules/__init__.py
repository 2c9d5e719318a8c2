"""Local registration rules for volunteer_hub, configurable per community.

The plugin itself (its hook implementations) is :mod:`vh_registration_rules.plugin`,
registered under the ``volunteer_hub`` entry-point group as ``vh-registration-rules``.
"""

__version__ = "0.1.0"
