"""The fixture set of this suite is volunteer_hub.testing's, the one plugin authors get.

``World`` is its ``TestCommunity`` under the name these tests have always used
(``await World(hub).build()``); nothing is defined here.
"""

from volunteer_hub.testing import PASSWORD, id_number, next_phone
from volunteer_hub.testing import TestCommunity as World

__all__ = ["PASSWORD", "World", "id_number", "next_phone"]
