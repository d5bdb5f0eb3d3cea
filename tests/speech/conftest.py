"""The server fixtures of tests/server, for the speech REST tests, and the fake ElevenLabs/OpenAI server."""

from tests.server.conftest import make_server, rig, rig_dir  # noqa: F401
from tests.speech.fakeapi import fake, fake_api  # noqa: F401
