"""The admission list (准入清单) of a community for volunteer_hub, from a TOML file staff edit.

The plugin itself (its hook implementations) is :mod:`vh_admission_list.plugin`,
registered under the ``volunteer_hub`` entry-point group as ``vh-admission-list``.
"""

__version__ = "0.1.0"
