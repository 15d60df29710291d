"""ARN, URL and identifier formats, as AWS writes them."""
from __future__ import annotations


def arn(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def kinesis_stream_arn(region: str, account: str, stream: str) -> str:
    return arn("kinesis", region, account, f"stream/{stream}")


def kinesis_consumer_arn(stream_arn: str, consumer: str, created: int) -> str:
    return f"{stream_arn}/consumer/{consumer}:{created}"


def firehose_arn(region: str, account: str, name: str) -> str:
    return arn("firehose", region, account, f"deliverystream/{name}")


def sqs_arn(region: str, account: str, queue: str) -> str:
    return arn("sqs", region, account, queue)


def sqs_queue_url(region: str, account: str, queue: str) -> str:
    return f"https://sqs.{region}.amazonaws.com/{account}/{queue}"


def sns_topic_arn(region: str, account: str, topic: str) -> str:
    return arn("sns", region, account, topic)


def lambda_arn(region: str, account: str, function: str) -> str:
    return arn("lambda", region, account, f"function:{function}")


def parse_arn(value: str) -> dict | None:
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return {"partition": parts[1], "service": parts[2], "region": parts[3], "account": parts[4], "resource": parts[5]}


def shard_id(index: int) -> str:
    return f"shardId-{index:012d}"


def parse_shard_id(value: str) -> int | None:
    """shardId-000000000001 -> 1; AWS also accepts the bare number suffix form."""
    if isinstance(value, str):
        digits = value[8:] if value.startswith("shardId-") else value
        if digits.isdigit() and len(digits) <= 12:
            return int(digits)
    return None
