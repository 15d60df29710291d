"""Run by tests/server/test_old_clients.py with an old boto3/botocore (1.31.80) whose SQS model
is the query protocol: every SQS operation it has, against the endpoint in argv[1]."""
import json
import sys

import boto3
import botocore
import botocore.exceptions

endpoint = sys.argv[1]
sqs = boto3.client("sqs", endpoint_url=endpoint)
assert sqs.meta.service_model.protocol == "query", sqs.meta.service_model.protocol
out = {"botocore": botocore.__version__}

url = sqs.create_queue(QueueName="old-q", Attributes={"VisibilityTimeout": "5"}, tags={"team": "a"})["QueueUrl"]
dlq = sqs.create_queue(QueueName="old-dlq")["QueueUrl"]
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sqs.set_queue_attributes(QueueUrl=url, Attributes={
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})})
out["url"] = url
out["get_queue_url"] = sqs.get_queue_url(QueueName="old-q")["QueueUrl"]
out["attributes"] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
out["list_queues"] = sqs.list_queues(QueueNamePrefix="old-")["QueueUrls"]
out["dead_letter_sources"] = sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
sqs.tag_queue(QueueUrl=url, Tags={"env": "test"})
sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
out["tags"] = sqs.list_queue_tags(QueueUrl=url)["Tags"]
sqs.add_permission(QueueUrl=url, Label="l", AWSAccountIds=["111111111111"], Actions=["SendMessage"])
sqs.remove_permission(QueueUrl=url, Label="l")
sent = sqs.send_message(QueueUrl=url, MessageBody="one\r\n<&>", MessageAttributes={
    "s": {"DataType": "String", "StringValue": "v"}, "b": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}})
out["send_md5"] = [sent["MD5OfMessageBody"], sent["MD5OfMessageAttributes"]]
batch = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": f"e{k}", "MessageBody": f"m{k}"} for k in range(3)]
                               + [{"Id": "bad", "MessageBody": "x\x00"}])
out["batch"] = [sorted(e["Id"] for e in batch["Successful"]), [(e["Id"], e["Code"]) for e in batch["Failed"]]]
got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                          MessageAttributeNames=["All"], WaitTimeSeconds=1)["Messages"]
out["received"] = sorted(m["Body"] for m in got)
first = next(m for m in got if m["Body"].startswith("one"))
out["attributes_of_first"] = {k: v for k, v in first["MessageAttributes"].items()}
out["system_attributes"] = sorted(first["Attributes"])
sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=0)
changed = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
    {"Id": "c", "ReceiptHandle": got[1]["ReceiptHandle"], "VisibilityTimeout": 10}])
out["changed"] = [e["Id"] for e in changed["Successful"]]
sqs.delete_message(QueueUrl=url, ReceiptHandle=got[1]["ReceiptHandle"])
deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "d", "ReceiptHandle": got[2]["ReceiptHandle"]},
                                                          {"Id": "x", "ReceiptHandle": "garbage"}])
out["deleted"] = [[e["Id"] for e in deleted["Successful"]], [(e["Id"], e["Code"]) for e in deleted["Failed"]]]
task = sqs.start_message_move_task(SourceArn=dlq_arn)
out["move_tasks"] = [t["Status"] for t in sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]]
try:
    sqs.cancel_message_move_task(TaskHandle=task["TaskHandle"])
except botocore.exceptions.ClientError as err:   # (it may have finished already: nothing to move)
    out["cancel_error"] = err.response["Error"]["Code"]
sqs.purge_queue(QueueUrl=url)
errors = {}
for name, call in [("get_queue_url", lambda: sqs.get_queue_url(QueueName="old-missing")),
                   ("bad_attribute", lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Nope"])),
                   ("purge_again", lambda: sqs.purge_queue(QueueUrl=url))]:
    try:
        call()
    except botocore.exceptions.ClientError as err:
        errors[name] = [err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"],
                        type(err).__name__]
out["errors"] = errors
sqs.delete_queue(QueueUrl=url)
out["after_delete"] = sqs.list_queues(QueueNamePrefix="old-q").get("QueueUrls", [])
print(json.dumps(out, default=bytes.hex))
