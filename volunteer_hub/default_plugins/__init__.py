"""Core behaviour shipped as plugins, on the same public hooks as third-party plugins."""
