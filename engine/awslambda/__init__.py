"""Lambda: functions whose code is a registered Python callable, invoke, and event source
mappings that feed SQS queues and Kinesis streams to them."""
