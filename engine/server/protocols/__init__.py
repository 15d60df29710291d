"""Wire codecs, one module per AWS protocol, driven by botocore's service models:
json (awsJson 1.0/1.1), query (form in, XML out), rest (rest-json routing). CBOR and event
streams live beside them (engine.server.cbor, engine.server.eventstream)."""
