"""volunteer_hub: volunteer and resident-participation platform for urban communities."""

import pluggy

__version__ = "0.1.0"

#: Mark a function as an implementation of a volunteer_hub hook (see ``hookspecs``).
hookimpl = pluggy.HookimplMarker("volunteer_hub")

__all__ = ["__version__", "hookimpl"]
