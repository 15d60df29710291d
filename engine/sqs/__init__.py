"""Amazon SQS: standard and FIFO queues.

    eng = engine.Engine()
    sqs = eng.client("sqs")                       # boto3-shaped (engine.sqs.client.SQSClient)
    queue = eng.backend("sqs").get_queue("jobs")  # typed domain object (engine.sqs.models.Queue)

models.py holds the domain (queues, visibility, FIFO groups and deduplication, dead-letter
redrive, move tasks), client.py the boto3 shapes, errors.py the AWS error codes and md5.py the
digests SQS returns.
"""
from .models import FifoQueue, Message, Queue, SQSBackend

__all__ = ["SQSBackend", "Queue", "FifoQueue", "Message"]
