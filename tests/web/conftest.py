"""The web tests run against the same in-process service as the API tests."""

from ..api.conftest import service  # noqa: F401  (re-exported fixture)
