"""One running policy pack per environment for the whole session, started as the Pulumi CLI starts it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from stacks.config import read_stack_file
from tools.policy_check import Analyzer
from tools.policy_config import policy_pack_config


@pytest.fixture(scope="session")
def analyzer() -> Iterator[Callable[[str], Analyzer]]:
    """`analyzer("prod")`: the packaged pack (a subprocess speaking gRPC), configured for that environment."""
    started: dict[str, Analyzer] = {}

    def get(environment: str) -> Analyzer:
        if environment not in started:
            values, secret_keys = read_stack_file(environment)
            pack = Analyzer(environment, values, secret_keys)
            pack.start()
            started[environment] = pack
        pack = started[environment]
        pack.configure(policy_pack_config(environment))
        return pack

    yield get
    for pack in started.values():
        pack.close()
