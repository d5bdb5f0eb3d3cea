"""The server fixtures of tests/server, for the commands that talk to a live server."""

from tests.server.conftest import make_server, rig, rig_dir  # noqa: F401
