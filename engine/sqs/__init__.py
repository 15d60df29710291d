"""Amazon SQS: standard and FIFO queues.

    eng = engine.Engine()
    sqs = eng.client("sqs")                       # boto3-shaped (engine.sqs.client.SQSClient)
    queue = eng.backend("sqs").get_queue("jobs")  # typed domain object (engine.sqs.models.Queue)

models.py holds the queues (AWS's rules over the native message store), dead-letter redrive
and move tasks; rules.py the value rules they apply; client.py the boto3 shapes; errors.py the
AWS error codes; md5.py the digests SQS returns; names.py the ordered queue names.
"""
from .models import FifoQueue, Queue, SQSBackend

__all__ = ["SQSBackend", "Queue", "FifoQueue"]
