// The AWS SDK for JavaScript v3 against `engine serve`: node run.mjs <endpoint>
// Prints one JSON line per check ({"check": name, "ok": true|false, ...}) and exits 1 if any failed.
// Kinesis goes over HTTP/2 (the SDK's default handler for Kinesis), SubscribeToShard included;
// SQS, SNS and Firehose over HTTP/1.1, as the SDK sends them. For an https endpoint with a
// self-signed certificate, NODE_EXTRA_CA_CERTS names it.
import http2 from "node:http2";
import {
  KinesisClient, CreateStreamCommand, DescribeStreamSummaryCommand, PutRecordCommand, PutRecordsCommand,
  ListShardsCommand, GetShardIteratorCommand, GetRecordsCommand, RegisterStreamConsumerCommand,
  SubscribeToShardCommand, DescribeStreamCommand, ListStreamsCommand,
} from "@aws-sdk/client-kinesis";
import {
  SQSClient, CreateQueueCommand, SendMessageCommand, SendMessageBatchCommand, ReceiveMessageCommand,
  DeleteMessageCommand, GetQueueAttributesCommand, GetQueueUrlCommand,
} from "@aws-sdk/client-sqs";
import { SNSClient, CreateTopicCommand, SubscribeCommand, PublishCommand, ListTopicsCommand } from "@aws-sdk/client-sns";
import {
  FirehoseClient, CreateDeliveryStreamCommand, PutRecordCommand as FirehosePut, PutRecordBatchCommand,
  DescribeDeliveryStreamCommand,
} from "@aws-sdk/client-firehose";

const endpoint = process.argv[2];
const config = {
  endpoint, region: "us-east-1",
  credentials: { accessKeyId: process.env.ENGINE_TEST_KEY ?? "test", secretAccessKey: process.env.ENGINE_TEST_SECRET ?? "test" },
};

// Count HTTP/2 sessions the SDK opens (its NodeHttp2Handler calls http2.connect).
let http2Sessions = 0;
const connect = http2.connect;
http2.connect = (...args) => { http2Sessions += 1; return connect(...args); };

let failed = 0;
function report(check, ok, detail = {}) {
  if (!ok) failed += 1;
  console.log(JSON.stringify({ check, ok, ...detail }));
}
async function check(name, fn) {
  try {
    const detail = await fn();
    report(name, true, detail ?? {});
  } catch (error) {
    report(name, false, { error: `${error.name}: ${error.message}`, stack: String(error.stack).split("\n").slice(0, 4) });
  }
}
function expect(condition, message) {
  if (!condition) throw new Error(message);
}
async function expectError(promise, name) {
  try {
    await promise;
  } catch (error) {
    expect(error.name === name, `expected ${name}, got ${error.name}: ${error.message}`);
    return { error: error.name, status: error.$metadata?.httpStatusCode };
  }
  throw new Error(`expected ${name}, the call succeeded`);
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (bytes) => Buffer.from(bytes).toString("utf8");
const suffix = `${process.pid}-${Date.now()}`;

async function kinesis() {
  const client = new KinesisClient(config);
  const StreamName = `js-${suffix}`;
  await check("kinesis CreateStream", async () => { await client.send(new CreateStreamCommand({ StreamName, ShardCount: 1 })); });
  let arn;
  await check("kinesis DescribeStreamSummary", async () => {
    for (let i = 0; i < 50; i += 1) {
      const out = await client.send(new DescribeStreamSummaryCommand({ StreamName }));
      arn = out.StreamDescriptionSummary.StreamARN;
      if (out.StreamDescriptionSummary.StreamStatus === "ACTIVE") return { arn };
      await sleep(100);
    }
    throw new Error("stream never became ACTIVE");
  });
  await check("kinesis ListStreams", async () => {
    const out = await client.send(new ListStreamsCommand({}));
    expect(out.StreamNames.includes(StreamName), `ListStreams: ${out.StreamNames}`);
  });
  await check("kinesis PutRecord", async () => {
    const out = await client.send(new PutRecordCommand({ StreamName, PartitionKey: "a", Data: Buffer.from("one") }));
    expect(out.ShardId === "shardId-000000000000" && out.SequenceNumber, JSON.stringify(out));
  });
  await check("kinesis PutRecords", async () => {
    const Records = [1, 2, 3].map((i) => ({ PartitionKey: `k${i}`, Data: Buffer.from(`r${i}`) }));
    const out = await client.send(new PutRecordsCommand({ StreamName, Records }));
    expect(out.FailedRecordCount === 0 && out.Records.length === 3, JSON.stringify(out));
  });
  await check("kinesis GetRecords", async () => {
    const shards = await client.send(new ListShardsCommand({ StreamName }));
    const ShardId = shards.Shards[0].ShardId;
    const it = await client.send(new GetShardIteratorCommand({ StreamName, ShardId, ShardIteratorType: "TRIM_HORIZON" }));
    const out = await client.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator }));
    const data = out.Records.map((r) => text(r.Data));
    expect(JSON.stringify(data) === JSON.stringify(["one", "r1", "r2", "r3"]), `records ${data}`);
    expect(out.Records[0].ApproximateArrivalTimestamp instanceof Date, "timestamp is a Date");
    expect(Math.abs(out.Records[0].ApproximateArrivalTimestamp.getTime() - Date.now()) < 600_000, "timestamp near now");
  });
  await check("kinesis SubscribeToShard", async () => {
    const consumer = await client.send(new RegisterStreamConsumerCommand({ StreamARN: arn, ConsumerName: "js" }));
    const out = await client.send(new SubscribeToShardCommand({
      ConsumerARN: consumer.Consumer.ConsumerARN, ShardId: "shardId-000000000000",
      StartingPosition: { Type: "TRIM_HORIZON" },
    }));
    const seen = [];
    let late = false;
    for await (const event of out.EventStream) {
      if (!event.SubscribeToShardEvent) continue;
      for (const record of event.SubscribeToShardEvent.Records) seen.push(text(record.Data));
      if (seen.length === 4 && !late) {   // a record put while subscribed arrives as a later event
        late = true;
        await client.send(new PutRecordCommand({ StreamName, PartitionKey: "z", Data: Buffer.from("late") }));
      }
      if (seen.length >= 5) break;
    }
    expect(JSON.stringify(seen) === JSON.stringify(["one", "r1", "r2", "r3", "late"]), `events ${seen}`);
    return { records: seen.length };
  });
  await check("kinesis error ResourceNotFoundException", () =>
    expectError(client.send(new DescribeStreamCommand({ StreamName: `missing-${suffix}` })), "ResourceNotFoundException"));
  await check("kinesis over HTTP/2", async () => {
    expect(http2Sessions >= 1, "the Kinesis client opened no HTTP/2 session");
    return { sessions: http2Sessions };
  });
  client.destroy();
}

async function sqsAndSns() {
  const sqs = new SQSClient(config);
  const sns = new SNSClient(config);
  let QueueUrl;
  await check("sqs CreateQueue", async () => {
    QueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `js-${suffix}` }))).QueueUrl;
    expect(QueueUrl.startsWith(endpoint), `queue URL ${QueueUrl} is not on ${endpoint}`);
  });
  await check("sqs SendMessage and batch", async () => {
    await sqs.send(new SendMessageCommand({
      QueueUrl, MessageBody: "hello",
      MessageAttributes: { kind: { DataType: "String", StringValue: "greeting" } },
    }));
    const out = await sqs.send(new SendMessageBatchCommand({
      QueueUrl, Entries: [{ Id: "a", MessageBody: "b1" }, { Id: "b", MessageBody: "b2" }],
    }));
    expect(out.Successful.length === 2, JSON.stringify(out));
  });
  await check("sqs ReceiveMessage and DeleteMessage", async () => {
    const bodies = [];
    for (let i = 0; i < 5 && bodies.length < 3; i += 1) {
      const out = await sqs.send(new ReceiveMessageCommand({
        QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ["All"],
      }));
      for (const m of out.Messages ?? []) {
        bodies.push(m.Body);
        if (m.Body === "hello") expect(m.MessageAttributes.kind.StringValue === "greeting", "attribute lost");
        await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: m.ReceiptHandle }));
      }
    }
    expect(JSON.stringify(bodies.sort()) === JSON.stringify(["b1", "b2", "hello"]), `bodies ${bodies}`);
  });
  await check("sqs error QueueDoesNotExist", () =>
    expectError(sqs.send(new GetQueueUrlCommand({ QueueName: `missing-${suffix}` })), "QueueDoesNotExist"));
  await check("sns Publish to an SQS subscription", async () => {
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: `js-${suffix}` }));
    const topics = await sns.send(new ListTopicsCommand({}));
    expect(topics.Topics.some((t) => t.TopicArn === TopicArn), "ListTopics misses the topic");
    const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }));
    await sns.send(new SubscribeCommand({
      TopicArn, Protocol: "sqs", Endpoint: attrs.Attributes.QueueArn, Attributes: { RawMessageDelivery: "true" },
    }));
    const published = await sns.send(new PublishCommand({ TopicArn, Message: "via sns" }));
    expect(published.MessageId, "no MessageId");
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 5 }));
    expect(out.Messages?.[0]?.Body === "via sns", JSON.stringify(out.Messages));
  });
  await check("sns error NotFound", () =>
    expectError(sns.send(new PublishCommand({
      TopicArn: `arn:aws:sns:us-east-1:000000000000:missing-${process.pid}`, Message: "x",
    })), "NotFoundException"));
  sqs.destroy();
  sns.destroy();
}

async function firehose() {
  const client = new FirehoseClient(config);
  const DeliveryStreamName = `js-${suffix}`;
  await check("firehose CreateDeliveryStream", async () => {
    await client.send(new CreateDeliveryStreamCommand({
      DeliveryStreamName, DeliveryStreamType: "DirectPut",
      ExtendedS3DestinationConfiguration: {
        BucketARN: "arn:aws:s3:::js-bucket", RoleARN: "arn:aws:iam::000000000000:role/firehose",
      },
    }));
  });
  await check("firehose PutRecord and PutRecordBatch", async () => {
    const one = await client.send(new FirehosePut({ DeliveryStreamName, Record: { Data: Buffer.from("{\"a\":1}\n") } }));
    expect(one.RecordId, "no RecordId");
    const batch = await client.send(new PutRecordBatchCommand({
      DeliveryStreamName, Records: [{ Data: Buffer.from("x\n") }, { Data: Buffer.from("y\n") }],
    }));
    expect(batch.FailedPutCount === 0 && batch.RequestResponses.length === 2, JSON.stringify(batch));
  });
  await check("firehose DescribeDeliveryStream", async () => {
    const out = await client.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName }));
    expect(out.DeliveryStreamDescription.DeliveryStreamName === DeliveryStreamName, "wrong stream");
    expect(out.DeliveryStreamDescription.CreateTimestamp instanceof Date, "CreateTimestamp is a Date");
  });
  client.destroy();
}

const only = process.argv[3];
if (!only || only === "kinesis") await kinesis();
if (!only || only === "sqs") await sqsAndSns();
if (!only || only === "firehose") await firehose();
process.exit(failed ? 1 : 0);
