from tests.api.conftest import products, treated  # noqa: F401
