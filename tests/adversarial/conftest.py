"""The adversarial suite: fastgw driven as a careless or hostile client would drive it.

Every test here is marked ``adversarial`` (run by ``make test``; select it alone with
``pytest -m adversarial``). Each is bounded in time and in the traffic it sends, which goes
only to loopback servers the test starts itself.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/adversarial/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.adversarial)
