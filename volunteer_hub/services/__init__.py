"""The service layer: every rule and transaction of volunteer_hub, with no HTTP in it.

The JSON API, the HTML pages, the CLI and the Open311 endpoint all call these
functions. Each takes the ``Hub`` first and, where a person acts, the ``Actor``.
"""
