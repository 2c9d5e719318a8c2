"""Notifications: planned in the change's transaction, delivered by `vhub worker` via apprise."""
