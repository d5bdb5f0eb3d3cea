"""``python -m streamer.server.reference`` writes docs/openapi.json and docs/rest.md."""

from streamer.server.reference import main

main()
