"""Kinesis Data Streams: models (streams over the native shard log) and the boto3-shaped client."""
