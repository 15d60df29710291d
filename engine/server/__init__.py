"""engine serve: the AWS wire protocols over HTTP (an RSGI app on granian, also an ASGI app) in front of the engine's clients."""
