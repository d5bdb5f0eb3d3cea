"""The server fixtures of tests/server, for the speech REST tests."""

from tests.server.conftest import make_server, rig, rig_dir  # noqa: F401
