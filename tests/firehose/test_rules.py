"""The service rules no botocore constraint holds live in engine.firehose.models: each is refused
the same way through the boto3-shaped client and through the native API."""
import pytest

from engine.firehose.errors import InvalidArgumentException, LimitExceededException
from engine.firehose.models import (
    BufferingHints,
    Conversion,
    Encryption,
    ExtendedS3,
    HttpEndpoint,
    Processing,
    Processor,
    S3Destination,
)

from .conftest import BUCKET, ROLE, s3_config

CMK = "arn:aws:kms:us-east-1:000000000000:key/k1"


def _lambda(**params):
    return {"Enabled": True, "Processors": [{"Type": "Lambda", "Parameters": [
        {"ParameterName": "LambdaArn", "ParameterValue": "arn:aws:lambda:us-east-1:000000000000:function:f"}] + [
        {"ParameterName": k, "ParameterValue": v} for k, v in params.items()]}]}


@pytest.fixture
def backend(eng):
    return eng.backend("firehose")


@pytest.mark.parametrize("params,message", [
    ({"NumberOfRetries": "301"}, "NumberOfRetries"),
    ({"NumberOfRetries": "-1"}, "NumberOfRetries"),
    ({"BufferSizeInMBs": "0.1"}, "BufferSizeInMBs"),
    ({"BufferSizeInMBs": "4"}, "BufferSizeInMBs"),
    ({"BufferSizeInMBs": "lots"}, "BufferSizeInMBs"),
])
def test_lambda_processor_parameters(fh, backend, params, message):
    with pytest.raises(fh.exceptions.InvalidArgumentException, match=message):
        fh.create_delivery_stream(DeliveryStreamName="p", ExtendedS3DestinationConfiguration=s3_config(
            ProcessingConfiguration=_lambda(**params)))
    processing = Processing(True, [Processor("Lambda", {"LambdaArn": "arn:aws:lambda:us-east-1:0:function:f",
                                                        **params})])
    with pytest.raises(InvalidArgumentException, match=message):
        backend.create_delivery_stream("p", ExtendedS3(S3Destination(BUCKET, ROLE), processing=processing))
    assert backend.list_delivery_streams() == ([], False)


def test_lambda_processor_parameters_in_range_are_kept(fh):
    fh.create_delivery_stream(DeliveryStreamName="p", ExtendedS3DestinationConfiguration=s3_config(
        ProcessingConfiguration=_lambda(NumberOfRetries="300", BufferSizeInMBs="0.2")))
    desc = fh.describe_delivery_stream(DeliveryStreamName="p")["DeliveryStreamDescription"]
    params = desc["Destinations"][0]["ExtendedS3DestinationDescription"]["ProcessingConfiguration"][
        "Processors"][0]["Parameters"]
    assert {"ParameterName": "NumberOfRetries", "ParameterValue": "300"} in params


@pytest.mark.parametrize("conversion,message", [
    ({"Enabled": True, "SchemaConfiguration": {"DatabaseName": "db", "TableName": "t"},
      "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}, "HiveJsonSerDe": {}}},
      "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}}}, "Deserializer must specify exactly one"),
    ({"Enabled": True, "SchemaConfiguration": {"DatabaseName": "db", "TableName": "t"},
      "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
      "OutputFormatConfiguration": {"Serializer": {}}}, "Serializer must specify exactly one"),
    ({"Enabled": True, "SchemaConfiguration": {"DatabaseName": "db"},
      "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
      "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}}}, "DatabaseName and TableName"),
])
def test_conversion_needs_a_schema_and_one_serde_each_way(fh, backend, conversion, message):
    with pytest.raises(fh.exceptions.InvalidArgumentException, match=message):
        fh.create_delivery_stream(DeliveryStreamName="c", ExtendedS3DestinationConfiguration=s3_config(
            BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60}, DataFormatConversionConfiguration=conversion))
    with pytest.raises(InvalidArgumentException, match="DatabaseName and TableName"):
        backend.create_delivery_stream("c", ExtendedS3(S3Destination(BUCKET, ROLE, buffering=BufferingHints(64)),
                                                       conversion=Conversion(database="db")))


def test_buffering_default_follows_the_destination(fh, glue, backend):
    """Without BufferingHints, conversion and dynamic partitioning buffer 128 MiB (AWS's default)."""
    glue.create_database(DatabaseInput={"Name": "db"})
    glue.create_table(DatabaseName="db", TableInput={"Name": "t", "StorageDescriptor": {
        "Columns": [{"Name": "a", "Type": "int"}]}})
    cfg = {"RoleARN": ROLE, "BucketARN": BUCKET, "DataFormatConversionConfiguration": {
        "SchemaConfiguration": {"DatabaseName": "db", "TableName": "t"},
        "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
        "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}}}}
    fh.create_delivery_stream(DeliveryStreamName="c", ExtendedS3DestinationConfiguration=cfg)
    fh.create_delivery_stream(DeliveryStreamName="plain", ExtendedS3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": BUCKET})
    for name, size in (("c", 128), ("plain", 5)):
        ext = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]["Destinations"][0][
            "ExtendedS3DestinationDescription"]
        assert ext["BufferingHints"] == {"SizeInMBs": size, "IntervalInSeconds": 300}
        assert backend.get(name).destination.buffering.size_mb == size


def test_backup_mode_enabled_needs_a_backup(fh, backend):
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="S3BackupConfiguration is required"):
        fh.create_delivery_stream(DeliveryStreamName="b", ExtendedS3DestinationConfiguration=s3_config(
            S3BackupMode="Enabled"))
    with pytest.raises(InvalidArgumentException, match="S3BackupConfiguration is required"):
        backend.create_delivery_stream("b", ExtendedS3(S3Destination(BUCKET, ROLE), backup_mode="Enabled"))


@pytest.mark.parametrize("key_type,arn,message", [
    ("CUSTOMER_MANAGED_CMK", None, "KeyARN is required"),
    ("AWS_OWNED_CMK", CMK, "must not be specified"),
])
def test_encryption_key_rules(fh, backend, key_type, arn, message):
    enc = {"KeyType": key_type, **({"KeyARN": arn} if arn else {})}
    with pytest.raises(fh.exceptions.InvalidArgumentException, match=message):
        fh.create_delivery_stream(DeliveryStreamName="e", ExtendedS3DestinationConfiguration=s3_config(),
                                  DeliveryStreamEncryptionConfigurationInput=enc)
    fh.create_delivery_stream(DeliveryStreamName="e", ExtendedS3DestinationConfiguration=s3_config())
    with pytest.raises(fh.exceptions.InvalidArgumentException, match=message):
        fh.start_delivery_stream_encryption(DeliveryStreamName="e", DeliveryStreamEncryptionConfigurationInput=enc)
    with pytest.raises(InvalidArgumentException, match=message):
        backend.get("e").start_encryption(Encryption("ENABLED", key_type, arn))
    assert backend.get("e").encryption.status == "DISABLED"
    backend.get("e").start_encryption(Encryption("ENABLED", "CUSTOMER_MANAGED_CMK", CMK))
    desc = fh.describe_delivery_stream(DeliveryStreamName="e")["DeliveryStreamDescription"]
    assert desc["DeliveryStreamEncryptionConfiguration"] == {"Status": "ENABLED", "KeyType": "CUSTOMER_MANAGED_CMK",
                                                             "KeyARN": CMK}


def test_tag_limit_counts_the_tags_a_stream_has(fh, backend):
    fh.create_delivery_stream(DeliveryStreamName="t", ExtendedS3DestinationConfiguration=s3_config(),
                              Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(30)])
    with pytest.raises(fh.exceptions.LimitExceededException, match="51 tags"):
        fh.tag_delivery_stream(DeliveryStreamName="t", Tags=[{"Key": f"n{i}", "Value": "v"} for i in range(21)])
    with pytest.raises(LimitExceededException):
        backend.get("t").tag({f"n{i}": "v" for i in range(21)})
    fh.tag_delivery_stream(DeliveryStreamName="t", Tags=[{"Key": "k0", "Value": "new"}])   # replaces, adds none
    assert len(backend.get("t").tags) == 30 and backend.get("t").tags["k0"] == "new"
    with pytest.raises(LimitExceededException):
        backend.create_delivery_stream("many", ExtendedS3(S3Destination(BUCKET, ROLE)),
                                       tags={f"k{i}": "" for i in range(51)})


def test_source_rules(fh, backend, shape):
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="not supported by this engine"):
        fh.create_delivery_stream(DeliveryStreamName="m", DeliveryStreamType="MSKAsSource",
                                  ExtendedS3DestinationConfiguration=s3_config())
    with pytest.raises(InvalidArgumentException, match="only valid for DirectPut"):
        backend.create_delivery_stream("k", ExtendedS3(S3Destination(BUCKET, ROLE)),
                                       stream_type="KinesisStreamAsSource", direct_put_throughput_mb=5)
    fh.create_delivery_stream(DeliveryStreamName="d", ExtendedS3DestinationConfiguration=s3_config(),
                              DirectPutSourceConfiguration={"ThroughputHintInMBs": 5})
    desc = fh.describe_delivery_stream(DeliveryStreamName="d")
    shape("firehose", "DescribeDeliveryStream", desc)
    assert desc["DeliveryStreamDescription"]["Source"] == {"DirectPutSourceDescription": {"ThroughputHintInMBs": 5}}


def test_request_size_rule_on_both_paths(fh, backend):
    fh.create_delivery_stream(DeliveryStreamName="r", ExtendedS3DestinationConfiguration=s3_config())
    big = [b"x" * 1_000_000] * 5
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="4194304"):
        fh.put_record_batch(DeliveryStreamName="r", Records=[{"Data": d} for d in big])
    with pytest.raises(InvalidArgumentException, match="4194304"):
        backend.get("r").put_request(big)
    assert backend.get("r").buffered_records == 0
    assert backend.get("r").put_batch(big) == 5     # the native bulk API has no request size


def test_update_cannot_change_the_destination_type(fh):
    fh.create_delivery_stream(DeliveryStreamName="u", ExtendedS3DestinationConfiguration=s3_config())
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="Changing the destination type"):
        fh.update_destination(DeliveryStreamName="u", CurrentDeliveryStreamVersionId="1",
                              DestinationId="destinationId-000000000001",
                              HttpEndpointDestinationUpdate={"EndpointConfiguration": {"Url": "https://x.example"}})


def test_http_update_keeps_what_it_does_not_name(fh, backend):
    fh.create_delivery_stream(DeliveryStreamName="h", HttpEndpointDestinationConfiguration={
        "EndpointConfiguration": {"Url": "https://a.example", "Name": "a"},
        "S3Configuration": {"RoleARN": ROLE, "BucketARN": BUCKET},
        "RequestConfiguration": {"ContentEncoding": "GZIP"}, "RetryOptions": {"DurationInSeconds": 10}})
    fh.update_destination(DeliveryStreamName="h", CurrentDeliveryStreamVersionId="1",
                          DestinationId="destinationId-000000000001",
                          HttpEndpointDestinationUpdate={"BufferingHints": {"IntervalInSeconds": 30}})
    dest = backend.get("h").destination
    assert isinstance(dest, HttpEndpoint)
    assert (dest.url, dest.name, dest.content_encoding, dest.retry_s) == ("https://a.example", "a", "GZIP", 10)
    assert (dest.buffering.size_mb, dest.buffering.interval_s) == (5, 30)


def test_a_disabled_conversion_needs_no_formats(fh, shape):
    fh.create_delivery_stream(DeliveryStreamName="off", ExtendedS3DestinationConfiguration=s3_config(
        DataFormatConversionConfiguration={"Enabled": False}))
    desc = fh.describe_delivery_stream(DeliveryStreamName="off")
    shape("firehose", "DescribeDeliveryStream", desc)
    conv = desc["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"][
        "DataFormatConversionConfiguration"]
    assert conv == {"SchemaConfiguration": {"VersionId": "LATEST"}, "Enabled": False}
