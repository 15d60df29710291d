// Kinesis over CBOR as the AWS SDK for Java writes and reads it, with Jackson's CBOR module (the
// library the SDK uses): blobs with writeBinary, timestamps as writeTag(1) + writeNumber(epoch
// millis) (SdkCborGenerator), answers read back the same way (timestamps as long milliseconds).
// SubscribeToShard's event stream is read the same way, its frames checked with Java's CRC32.
// Run by tests/server/test_cbor.py: java -cp <jackson jars> CborClient.java <endpoint>
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.dataformat.cbor.CBORFactory;
import com.fasterxml.jackson.dataformat.cbor.CBORGenerator;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Arrays;

public class CborClient {
    static final CBORFactory CBOR = new CBORFactory();
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    static String endpoint;

    interface Body { void write(CBORGenerator g) throws Exception; }

    static byte[] call(String operation, Body body, int expectedStatus) throws Exception {
        return call(operation, body, expectedStatus, "application/x-amz-cbor-1.1");
    }

    static byte[] call(String operation, Body body, int expectedStatus, String expectedType) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (CBORGenerator g = CBOR.createGenerator(out)) {
            g.writeStartObject();
            body.write(g);
            g.writeEndObject();
        }
        HttpRequest request = HttpRequest.newBuilder(URI.create(endpoint + "/"))
            .header("Content-Type", "application/x-amz-cbor-1.1")
            .header("X-Amz-Target", "Kinesis_20131202." + operation)
            .POST(HttpRequest.BodyPublishers.ofByteArray(out.toByteArray())).build();
        HttpResponse<byte[]> response = HTTP.send(request, HttpResponse.BodyHandlers.ofByteArray());
        String type = response.headers().firstValue("content-type").orElse("");
        check(response.statusCode() == expectedStatus, operation + " answered " + response.statusCode());
        check(type.equals(expectedType), operation + " answered " + type);
        return response.body();
    }

    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    /** The value of a top-level member, positioned on its token (skipping others). */
    static JsonParser member(byte[] body, String... path) throws Exception {
        JsonParser p = CBOR.createParser(body);
        check(p.nextToken() == JsonToken.START_OBJECT, "not a map");
        for (int depth = 0; depth < path.length; depth++) {
            String wanted = path[depth];
            while (true) {
                JsonToken t = p.nextToken();
                check(t == JsonToken.FIELD_NAME, "member " + wanted + " missing");
                if (p.getCurrentName().equals(wanted)) break;
                p.nextToken();
                p.skipChildren();
            }
            JsonToken value = p.nextToken();
            if (depth + 1 < path.length) {
                if (value == JsonToken.START_ARRAY) check(p.nextToken() == JsonToken.START_OBJECT, "empty list");
                else check(value == JsonToken.START_OBJECT, "not a structure");
            }
        }
        return p;
    }

    /** SubscribeToShard in CBOR over HTTP/1.1: frames checked with java.util.zip.CRC32, payloads read
     *  with Jackson; the shard is split first so the stream ends at the shard's end. */
    static int subscribe(String stream, byte[] data) throws Exception {
        byte[] summary = call("DescribeStreamSummary", g -> g.writeStringField("StreamName", stream), 200);
        String streamArn = member(summary, "StreamDescriptionSummary", "StreamARN").getText();
        byte[] registered = call("RegisterStreamConsumer", g -> {
            g.writeStringField("StreamARN", streamArn); g.writeStringField("ConsumerName", "java"); }, 200);
        String consumerArn = member(registered, "Consumer", "ConsumerARN").getText();
        call("SplitShard", g -> {
            g.writeStringField("StreamName", stream); g.writeStringField("ShardToSplit", "shardId-000000000000");
            g.writeStringField("NewStartingHashKey", "170141183460469231731687303715884105728"); }, 200);
        byte[] body = call("SubscribeToShard", g -> {
            g.writeStringField("ConsumerARN", consumerArn);
            g.writeStringField("ShardId", "shardId-000000000000");
            g.writeObjectFieldStart("StartingPosition"); g.writeStringField("Type", "TRIM_HORIZON"); g.writeEndObject();
        }, 200, "application/vnd.amazon.eventstream");
        java.nio.ByteBuffer buffer = java.nio.ByteBuffer.wrap(body);
        int events = 0;
        boolean sawData = false;
        while (buffer.remaining() > 0) {
            int start = buffer.position();
            int total = buffer.getInt(), headersLength = buffer.getInt(), preludeCrc = buffer.getInt();
            check(crc(body, start, 8) == preludeCrc, "prelude CRC");
            java.util.Map<String, String> headers = new java.util.HashMap<>();
            int headersEnd = buffer.position() + headersLength;
            while (buffer.position() < headersEnd) {
                byte[] name = new byte[buffer.get() & 0xff]; buffer.get(name);
                check(buffer.get() == 7, "string header");
                byte[] value = new byte[buffer.getShort() & 0xffff]; buffer.get(value);
                headers.put(new String(name), new String(value));
            }
            byte[] payload = new byte[total - 16 - headersLength]; buffer.get(payload);
            check(crc(body, start, total - 4) == buffer.getInt(), "message CRC");
            check(headers.get(":content-type").equals("application/x-amz-cbor-1.1"), "payload type " + headers);
            if (headers.get(":event-type").equals("SubscribeToShardEvent")) {
                events++;
                JsonParser p = member(payload, "Records");
                if (p.nextToken() == JsonToken.START_OBJECT) {
                    p = member(payload, "Records", "Data");
                    sawData |= Arrays.equals(p.getBinaryValue(), data);
                }
            } else {
                check(events == 0 && headers.get(":event-type").equals("initial-response"), "event " + headers);
            }
        }
        check(sawData, "the record never came in an event");
        return events;
    }

    static int crc(byte[] bytes, int offset, int length) {
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(bytes, offset, length);
        return (int) crc.getValue();
    }

    public static void main(String[] args) throws Exception {
        endpoint = args[0];
        String stream = "java-" + System.nanoTime();
        long before = System.currentTimeMillis() - 1000;
        byte[] data = {0, 1, 2, (byte) 0xff, 'j', 'a', 'v', 'a'};
        call("CreateStream", g -> { g.writeStringField("StreamName", stream); g.writeNumberField("ShardCount", 1); }, 200);
        byte[] put = call("PutRecords", g -> {
            g.writeStringField("StreamName", stream);
            g.writeArrayFieldStart("Records");
            g.writeStartObject();
            g.writeFieldName("Data"); g.writeBinary(data);
            g.writeStringField("PartitionKey", "k");
            g.writeEndObject();
            g.writeEndArray();
        }, 200);
        check(member(put, "FailedRecordCount").getIntValue() == 0, "PutRecords failed a record");
        byte[] iterator = call("GetShardIterator", g -> {
            g.writeStringField("StreamName", stream);
            g.writeStringField("ShardId", "shardId-000000000000");
            g.writeStringField("ShardIteratorType", "AT_TIMESTAMP");
            g.writeFieldName("Timestamp"); g.writeTag(1); g.writeNumber(before);   // SdkCborGenerator
        }, 200);
        String shardIterator = member(iterator, "ShardIterator").getText();
        byte[] records = call("GetRecords", g -> g.writeStringField("ShardIterator", shardIterator), 200);
        JsonParser p = member(records, "Records", "Data");
        byte[] got = p.getBinaryValue();
        check(Arrays.equals(got, data), "Data came back as " + Arrays.toString(got));
        p = member(records, "Records", "ApproximateArrivalTimestamp");
        check(p.currentToken() == JsonToken.VALUE_NUMBER_INT, "timestamp is " + p.currentToken());
        long arrival = p.getLongValue();   // what AwsCborProtocolFactory reads: epoch millis
        check(Math.abs(arrival - System.currentTimeMillis()) < 600_000, "arrival " + arrival + " is not epoch millis now");
        byte[] error = call("DescribeStreamSummary", g -> g.writeStringField("StreamName", stream + "-absent"), 400);
        check(member(error, "__type").getText().equals("ResourceNotFoundException"), "error type");
        int events = subscribe(stream, data);
        System.out.println("{\"ok\": true, \"arrival_millis\": " + arrival + ", \"events\": " + events + "}");
    }
}
