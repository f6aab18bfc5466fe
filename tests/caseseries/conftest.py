from tests.api.conftest import products  # noqa: F401
