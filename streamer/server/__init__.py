"""The HTTP and WebSocket server: ``app`` wires it, ``http`` holds the REST routes, ``live`` the channels.

Nothing is imported here, so ``streamer.server.security`` can be used without building an app.
"""
