"""engine serve: the AWS wire protocols over HTTP (an ASGI app on granian) in front of the engine's clients."""
