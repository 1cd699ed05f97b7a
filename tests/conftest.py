"""Fixtures shared by every area of the suite live in tests/fixtures/ and are loaded here."""

pytest_plugins = [
    "tests.fixtures.aws",
    "tests.fixtures.pulumi_mocks",
    "tests.fixtures.serve",
    "tests.fixtures.tenants",
]
