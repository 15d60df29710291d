"""The boto3-shaped Firehose client: `eng.client("firehose")`.

The request layer (engine.client_base) checks every request against botocore's Firehose model
before a method runs (types, required members, lengths, ranges, patterns, enums); each method
here only translates boto3 members into the model's configuration objects and calls
engine.firehose.models, where the rules no model constraint holds live (destination cross-field
rules, processors, conversion, encryption, tags, request size), so the native API obeys the
same ones; and shapes the model's answers as botocore returns them.
"""
from __future__ import annotations

import base64
import datetime
import os
import threading

from .. import limits
from ..client_base import BaseClient, to_blob
from . import errors
from .errors import InvalidArgumentException, ResourceNotFoundException
from .models import (
    DESTINATION_ID,
    BufferingHints,
    Conversion,
    Encryption,
    ExtendedS3,
    HttpEndpoint,
    IcebergDestination,
    IcebergTable,
    KinesisSource,
    Processing,
    Processor,
    S3Destination,
)

# Destinations botocore's model has and this engine does not deliver to.
_UNSUPPORTED_DESTINATIONS = ("RedshiftDestinationConfiguration", "ElasticsearchDestinationConfiguration",
                             "AmazonopensearchserviceDestinationConfiguration", "SplunkDestinationConfiguration",
                             "AmazonOpenSearchServerlessDestinationConfiguration", "SnowflakeDestinationConfiguration")


def _ts(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)


def _given(value: dict, key: str, current):
    """An update's member: the value given, else the current one."""
    return value[key] if key in value else current


def _only_member(value: dict | None):
    """The one member set in a choice of structures (None unless exactly one is)."""
    return next(iter(value)) if value and len(value) == 1 else None


# --- request -> model ------------------------------------------------------------------
def _buffering(value: dict | None, current: BufferingHints | None) -> BufferingHints | None:
    if value is None:
        return current
    base = current or BufferingHints()
    return BufferingHints(value.get("SizeInMBs", base.size_mb), value.get("IntervalInSeconds", base.interval_s))


def _s3(value: dict, current: S3Destination | None = None) -> S3Destination:
    base = current or S3Destination(bucket_arn=value.get("BucketARN", ""), role_arn=value.get("RoleARN", ""))
    encryption = value.get("EncryptionConfiguration")
    kms = base.kms_key_arn
    if encryption is not None:
        kms = (encryption.get("KMSEncryptionConfig") or {}).get("AWSKMSKeyARN")
    return S3Destination(
        bucket_arn=value.get("BucketARN", base.bucket_arn),
        role_arn=value.get("RoleARN", base.role_arn),
        prefix=_given(value, "Prefix", base.prefix),
        error_prefix=_given(value, "ErrorOutputPrefix", base.error_prefix),
        buffering=_buffering(value.get("BufferingHints"), base.buffering),
        compression=value.get("CompressionFormat", base.compression),
        kms_key_arn=kms,
        cloudwatch=dict(value["CloudWatchLoggingOptions"]) if "CloudWatchLoggingOptions" in value else base.cloudwatch,
        file_extension=_given(value, "FileExtension", base.file_extension),
        custom_time_zone=_given(value, "CustomTimeZone", base.custom_time_zone),
    )


def _processing(value: dict | None, current: Processing | None = None) -> Processing:
    if value is None:
        return current or Processing()
    return Processing(value.get("Enabled", False), [
        Processor(p["Type"], {q["ParameterName"]: q["ParameterValue"] for q in p.get("Parameters", [])})
        for p in value.get("Processors", [])])


def _conversion(value: dict | None, current: Conversion | None) -> Conversion | None:
    if value is None:
        return current
    base = current or Conversion()
    conv = Conversion(enabled=value.get("Enabled", True), database=base.database, table=base.table,
                      catalog_id=base.catalog_id, region=base.region, role_arn=base.role_arn,
                      version_id=base.version_id, deserializer=base.deserializer if current else None,
                      deserializer_options=dict(base.deserializer_options),
                      serializer=base.serializer if current else None,
                      serializer_options=dict(base.serializer_options))
    schema = value.get("SchemaConfiguration")
    if schema is not None:
        for key, attr in (("RoleARN", "role_arn"), ("CatalogId", "catalog_id"), ("DatabaseName", "database"),
                          ("TableName", "table"), ("Region", "region"), ("VersionId", "version_id")):
            if key in schema:
                setattr(conv, attr, schema[key])
    if "InputFormatConfiguration" in value:
        deserializer = value["InputFormatConfiguration"].get("Deserializer")
        conv.deserializer = _only_member(deserializer)
        conv.deserializer_options = dict(deserializer[conv.deserializer] or {}) if conv.deserializer else {}
    if "OutputFormatConfiguration" in value:
        serializer = value["OutputFormatConfiguration"].get("Serializer")
        conv.serializer = _only_member(serializer)
        conv.serializer_options = dict(serializer[conv.serializer] or {}) if conv.serializer else {}
    return conv


def _extended_s3(value: dict, current: ExtendedS3 | None = None) -> ExtendedS3:
    backup = value.get("S3BackupConfiguration", value.get("S3BackupUpdate"))
    dynamic = value.get("DynamicPartitioningConfiguration") or {}
    return ExtendedS3(
        s3=_s3(value, current.s3 if current else None),
        processing=_processing(value.get("ProcessingConfiguration"), current.processing if current else None),
        backup_mode=value.get("S3BackupMode", current.backup_mode if current else "Disabled"),
        backup=_s3(backup, current.backup if current else None) if backup is not None else
        (current.backup if current else None),
        conversion=_conversion(value.get("DataFormatConversionConfiguration"),
                               current.conversion if current else None),
        dynamic_partitioning=dynamic.get("Enabled", current.dynamic_partitioning if current else None),
        dynamic_partitioning_retry_s=(dynamic.get("RetryOptions") or {}).get(
            "DurationInSeconds", current.dynamic_partitioning_retry_s if current else None),
    )


def _http(value: dict, current: HttpEndpoint | None = None) -> HttpEndpoint:
    endpoint = value.get("EndpointConfiguration")
    url, name, key = (current.url, current.name, current.access_key) if current else ("", None, None)
    if endpoint is not None:
        url, name, key = endpoint["Url"], endpoint.get("Name"), endpoint.get("AccessKey")
    s3 = value.get("S3Configuration", value.get("S3Update"))
    request = value.get("RequestConfiguration") or {}
    attributes = dict(current.common_attributes) if current else {}
    if "CommonAttributes" in request:
        attributes = {a["AttributeName"]: a["AttributeValue"] for a in request["CommonAttributes"]}
    return HttpEndpoint(
        url=url, s3=_s3(s3, current.s3 if current else None) if s3 is not None else current.s3,
        name=name, access_key=key,
        buffering=_buffering(value.get("BufferingHints"), current.buffering if current else None) or
        BufferingHints(),
        content_encoding=request.get("ContentEncoding", current.content_encoding if current else "NONE"),
        common_attributes=attributes,
        processing=_processing(value.get("ProcessingConfiguration"), current.processing if current else None),
        role_arn=value.get("RoleARN", current.role_arn if current else None),
        retry_s=(value.get("RetryOptions") or {}).get(
            "DurationInSeconds", current.retry_s if current else limits.FIREHOSE_RETRY_DURATION_DEFAULT_S),
        backup_mode=value.get("S3BackupMode", current.backup_mode if current else "FailedDataOnly"),
        cloudwatch=value.get("CloudWatchLoggingOptions", current.cloudwatch if current else None),
    )


def _iceberg(value: dict, current: IcebergDestination | None = None) -> IcebergDestination:
    catalog = value.get("CatalogConfiguration") or {}
    s3 = value.get("S3Configuration")
    tables = current.tables if current else []
    if "DestinationTableConfigurationList" in value:
        tables = [IcebergTable(t["DestinationDatabaseName"], t["DestinationTableName"], list(t.get("UniqueKeys", [])),
                               [f["SourceName"] for f in (t.get("PartitionSpec") or {}).get("Identity", [])],
                               t.get("S3ErrorOutputPrefix")) for t in value["DestinationTableConfigurationList"]]
    return IcebergDestination(
        catalog_arn=catalog.get("CatalogARN", current.catalog_arn if current else ""),
        warehouse=catalog.get("WarehouseLocation", current.warehouse if current else None),
        s3=_s3(s3, current.s3 if current else None) if s3 is not None else current.s3,
        role_arn=value.get("RoleARN", current.role_arn if current else ""),
        tables=tables,
        append_only=value.get("AppendOnly", current.append_only if current else False),
        schema_evolution=(value.get("SchemaEvolutionConfiguration") or {}).get(
            "Enabled", current.schema_evolution if current else False),
        table_creation=(value.get("TableCreationConfiguration") or {}).get(
            "Enabled", current.table_creation if current else False),
        buffering=_buffering(value.get("BufferingHints"), current.buffering if current else None) or
        BufferingHints(),
        processing=_processing(value.get("ProcessingConfiguration"), current.processing if current else None),
        retry_s=(value.get("RetryOptions") or {}).get(
            "DurationInSeconds", current.retry_s if current else limits.FIREHOSE_RETRY_DURATION_DEFAULT_S),
        backup_mode=value.get("S3BackupMode", current.backup_mode if current else "FailedDataOnly"),
        cloudwatch=value.get("CloudWatchLoggingOptions", current.cloudwatch if current else None),
    )


def _encryption(value: dict) -> Encryption:
    return Encryption("ENABLED", value["KeyType"], value.get("KeyARN"))


def _tags(tags: list) -> dict:
    return {tag["Key"]: tag.get("Value", "") for tag in tags}


# --- model -> response -----------------------------------------------------------------
def _buffering_dict(b: BufferingHints) -> dict:
    return {"SizeInMBs": b.size_mb, "IntervalInSeconds": b.interval_s}


def _encryption_dict(s3: S3Destination) -> dict:
    if s3.kms_key_arn:
        return {"KMSEncryptionConfig": {"AWSKMSKeyARN": s3.kms_key_arn}}
    return {"NoEncryptionConfig": "NoEncryption"}


def _s3_dict(s3: S3Destination, buffering: BufferingHints | None = None) -> dict:
    out = {"RoleARN": s3.role_arn, "BucketARN": s3.bucket_arn}
    if s3.prefix is not None:
        out["Prefix"] = s3.prefix
    if s3.error_prefix is not None:
        out["ErrorOutputPrefix"] = s3.error_prefix
    out["BufferingHints"] = _buffering_dict(buffering or s3.hints)
    out["CompressionFormat"] = s3.compression
    out["EncryptionConfiguration"] = _encryption_dict(s3)
    out["CloudWatchLoggingOptions"] = dict(s3.cloudwatch) if s3.cloudwatch is not None else {"Enabled": False}
    return out


def _processing_dict(p: Processing) -> dict:
    return {"Enabled": p.enabled, "Processors": [
        {"Type": proc.type, "Parameters": [{"ParameterName": k, "ParameterValue": v}
                                           for k, v in proc.parameters.items()]} for proc in p.processors]}


def _conversion_dict(c: Conversion) -> dict:
    schema = {}
    for key, attr in (("RoleARN", "role_arn"), ("CatalogId", "catalog_id"), ("DatabaseName", "database"),
                      ("TableName", "table"), ("Region", "region"), ("VersionId", "version_id")):
        if getattr(c, attr) is not None:
            schema[key] = getattr(c, attr)
    out = {"SchemaConfiguration": schema, "Enabled": c.enabled}
    if c.deserializer is not None:
        out["InputFormatConfiguration"] = {"Deserializer": {c.deserializer: dict(c.deserializer_options)}}
    if c.serializer is not None:
        out["OutputFormatConfiguration"] = {"Serializer": {c.serializer: dict(c.serializer_options)}}
    return out


def _destination_dict(dest) -> dict:
    if isinstance(dest, ExtendedS3):
        ext = _s3_dict(dest.s3, dest.buffering)
        ext["ProcessingConfiguration"] = _processing_dict(dest.processing)
        ext["S3BackupMode"] = dest.backup_mode
        if dest.backup is not None:
            ext["S3BackupDescription"] = _s3_dict(dest.backup)
        if dest.conversion is not None:
            ext["DataFormatConversionConfiguration"] = _conversion_dict(dest.conversion)
        if dest.dynamic_partitioning is not None:
            ext["DynamicPartitioningConfiguration"] = {
                "RetryOptions": {"DurationInSeconds": dest.dynamic_partitioning_retry_s
                                 if dest.dynamic_partitioning_retry_s is not None
                                 else limits.FIREHOSE_RETRY_DURATION_DEFAULT_S},
                "Enabled": bool(dest.dynamic_partitioning)}
        if dest.s3.file_extension is not None:
            ext["FileExtension"] = dest.s3.file_extension
        if dest.s3.custom_time_zone is not None:
            ext["CustomTimeZone"] = dest.s3.custom_time_zone
        return {"DestinationId": DESTINATION_ID, "S3DestinationDescription": _s3_dict(dest.s3, dest.buffering),
                "ExtendedS3DestinationDescription": ext}
    if isinstance(dest, IcebergDestination):
        catalog = {"CatalogARN": dest.catalog_arn}
        if dest.warehouse is not None:
            catalog["WarehouseLocation"] = dest.warehouse
        tables = []
        for t in dest.tables:
            entry = {"DestinationTableName": t.table, "DestinationDatabaseName": t.database}
            if t.unique_keys:
                entry["UniqueKeys"] = list(t.unique_keys)
            if t.partition_fields:
                entry["PartitionSpec"] = {"Identity": [{"SourceName": c} for c in t.partition_fields]}
            if t.error_prefix is not None:
                entry["S3ErrorOutputPrefix"] = t.error_prefix
            tables.append(entry)
        return {"DestinationId": DESTINATION_ID, "IcebergDestinationDescription": {
            "DestinationTableConfigurationList": tables,
            "SchemaEvolutionConfiguration": {"Enabled": dest.schema_evolution},
            "TableCreationConfiguration": {"Enabled": dest.table_creation},
            "BufferingHints": _buffering_dict(dest.buffering),
            "CloudWatchLoggingOptions": dict(dest.cloudwatch) if dest.cloudwatch else {"Enabled": False},
            "ProcessingConfiguration": _processing_dict(dest.processing),
            "S3BackupMode": dest.backup_mode,
            "RetryOptions": {"DurationInSeconds": dest.retry_s},
            "RoleARN": dest.role_arn,
            "AppendOnly": dest.append_only,
            "CatalogConfiguration": catalog,
            "S3DestinationDescription": _s3_dict(dest.s3),
        }}
    ep = {"Url": dest.url}
    if dest.name is not None:
        ep["Name"] = dest.name
    http = {
        "EndpointConfiguration": ep,
        "BufferingHints": _buffering_dict(dest.buffering),
        "CloudWatchLoggingOptions": dict(dest.cloudwatch) if dest.cloudwatch else {"Enabled": False},
        "RequestConfiguration": {"ContentEncoding": dest.content_encoding,
                                 "CommonAttributes": [{"AttributeName": k, "AttributeValue": v}
                                                      for k, v in dest.common_attributes.items()]},
        "ProcessingConfiguration": _processing_dict(dest.processing),
        "RetryOptions": {"DurationInSeconds": dest.retry_s},
        "S3BackupMode": dest.backup_mode,
        "S3DestinationDescription": _s3_dict(dest.s3),
    }
    if dest.role_arn:
        http["RoleARN"] = dest.role_arn
    return {"DestinationId": DESTINATION_ID, "HttpEndpointDestinationDescription": http}


RECORD_ID_CHARS = 224        # the length of the ids Firehose returns (base64 text)
_RECORD_ID_COUNTER_DIGITS = 16
# Record ids need only be unique: a random head drawn once per process (as opaque as Firehose's
# tokens) and a counter in hex. 500 ids cost a join, not 84 KB of random bytes.
_RECORD_ID_HEAD = base64.b64encode(os.urandom(RECORD_ID_CHARS)).decode("ascii").replace("/", "R").replace(
    "+", "Q")[:RECORD_ID_CHARS - _RECORD_ID_COUNTER_DIGITS]
_record_id_lock = threading.Lock()
_record_id_next = 0


def _record_ids(n: int) -> list[str]:
    """n opaque ids like the ones Firehose returns (224 base64 characters), unique in the process."""
    global _record_id_next
    with _record_id_lock:
        base = _record_id_next
        _record_id_next += n
    return [f"{_RECORD_ID_HEAD}{k:016x}" for k in range(base, base + n)]


class FirehoseClient(BaseClient):
    service_name = "firehose"
    error_modules = (errors,)

    @property
    def _backend(self):
        return self._engine.backend("firehose", self.meta.region_name)

    # --- streams -----------------------------------------------------------------------
    def create_delivery_stream(self, *, DeliveryStreamName, DeliveryStreamType="DirectPut",
                               DirectPutSourceConfiguration=None, KinesisStreamSourceConfiguration=None,
                               DeliveryStreamEncryptionConfigurationInput=None, S3DestinationConfiguration=None,
                               ExtendedS3DestinationConfiguration=None, RedshiftDestinationConfiguration=None,
                               ElasticsearchDestinationConfiguration=None,
                               AmazonopensearchserviceDestinationConfiguration=None,
                               SplunkDestinationConfiguration=None, HttpEndpointDestinationConfiguration=None,
                               Tags=None, AmazonOpenSearchServerlessDestinationConfiguration=None,
                               MSKSourceConfiguration=None, SnowflakeDestinationConfiguration=None,
                               IcebergDestinationConfiguration=None, DatabaseSourceConfiguration=None):
        given = {k: v for k, v in (
            ("S3DestinationConfiguration", S3DestinationConfiguration),
            ("ExtendedS3DestinationConfiguration", ExtendedS3DestinationConfiguration),
            ("HttpEndpointDestinationConfiguration", HttpEndpointDestinationConfiguration),
            ("RedshiftDestinationConfiguration", RedshiftDestinationConfiguration),
            ("ElasticsearchDestinationConfiguration", ElasticsearchDestinationConfiguration),
            ("AmazonopensearchserviceDestinationConfiguration", AmazonopensearchserviceDestinationConfiguration),
            ("SplunkDestinationConfiguration", SplunkDestinationConfiguration),
            ("AmazonOpenSearchServerlessDestinationConfiguration", AmazonOpenSearchServerlessDestinationConfiguration),
            ("SnowflakeDestinationConfiguration", SnowflakeDestinationConfiguration),
            ("IcebergDestinationConfiguration", IcebergDestinationConfiguration)) if v is not None}
        if len(given) != 1:
            raise InvalidArgumentException("Exactly one destination configuration is supported for a Firehose")
        kind, config = next(iter(given.items()))
        if kind in _UNSUPPORTED_DESTINATIONS:
            raise InvalidArgumentException(f"{kind} is not supported by this engine; use ExtendedS3, HttpEndpoint "
                                           "or Iceberg.")
        if kind == "HttpEndpointDestinationConfiguration":
            destination = _http(config)
        elif kind == "IcebergDestinationConfiguration":
            destination = _iceberg(config)
        else:
            destination = _extended_s3(config)
        source = None
        if KinesisStreamSourceConfiguration is not None:
            source = KinesisSource(KinesisStreamSourceConfiguration["KinesisStreamARN"],
                                   KinesisStreamSourceConfiguration["RoleARN"])
        stream = self._backend.create_delivery_stream(
            DeliveryStreamName, destination, stream_type=DeliveryStreamType, kinesis_source=source,
            encryption=_encryption(DeliveryStreamEncryptionConfigurationInput)
            if DeliveryStreamEncryptionConfigurationInput is not None else None,
            tags=_tags(Tags or []),
            direct_put_throughput_mb=DirectPutSourceConfiguration["ThroughputHintInMBs"]
            if DirectPutSourceConfiguration is not None else None)
        return {"DeliveryStreamARN": stream.arn}

    def delete_delivery_stream(self, *, DeliveryStreamName, AllowForceDelete=None):
        self._backend.delete_delivery_stream(DeliveryStreamName)
        return {}

    def describe_delivery_stream(self, *, DeliveryStreamName, Limit=None, ExclusiveStartDestinationId=None):
        s = self._backend.get(DeliveryStreamName)
        enc = {"Status": s.encryption.status}
        if s.encryption.key_type:
            enc["KeyType"] = s.encryption.key_type
        if s.encryption.key_arn:
            enc["KeyARN"] = s.encryption.key_arn
        desc = {
            "DeliveryStreamName": s.name,
            "DeliveryStreamARN": s.arn,
            "DeliveryStreamStatus": s.status,
            "DeliveryStreamEncryptionConfiguration": enc,
            "DeliveryStreamType": s.type,
            "VersionId": str(s.version),
            "CreateTimestamp": _ts(s.create_time),
        }
        if s.update_time is not None:
            desc["LastUpdateTimestamp"] = _ts(s.update_time)
        if s.source is not None:
            desc["Source"] = {"KinesisStreamSourceDescription": {
                "KinesisStreamARN": s.source.stream_arn, "RoleARN": s.source.role_arn,
                "DeliveryStartTimestamp": _ts(s.source.start_time)}}
        elif s.direct_put_throughput_mb is not None:
            desc["Source"] = {"DirectPutSourceDescription": {"ThroughputHintInMBs": s.direct_put_throughput_mb}}
        desc["Destinations"] = [] if ExclusiveStartDestinationId == DESTINATION_ID else \
            [_destination_dict(s.destination)]
        desc["HasMoreDestinations"] = False
        return {"DeliveryStreamDescription": desc}

    def list_delivery_streams(self, *, Limit=None, DeliveryStreamType=None, ExclusiveStartDeliveryStreamName=None):
        names, more = self._backend.list_delivery_streams(DeliveryStreamType, ExclusiveStartDeliveryStreamName, Limit)
        return {"DeliveryStreamNames": names, "HasMoreDeliveryStreams": more}

    def update_destination(self, *, DeliveryStreamName, CurrentDeliveryStreamVersionId, DestinationId,
                           S3DestinationUpdate=None, ExtendedS3DestinationUpdate=None, RedshiftDestinationUpdate=None,
                           ElasticsearchDestinationUpdate=None, AmazonopensearchserviceDestinationUpdate=None,
                           SplunkDestinationUpdate=None, HttpEndpointDestinationUpdate=None,
                           AmazonOpenSearchServerlessDestinationUpdate=None, SnowflakeDestinationUpdate=None,
                           IcebergDestinationUpdate=None):
        updates = [u for u in (S3DestinationUpdate, ExtendedS3DestinationUpdate, HttpEndpointDestinationUpdate,
                               RedshiftDestinationUpdate, ElasticsearchDestinationUpdate,
                               AmazonopensearchserviceDestinationUpdate, SplunkDestinationUpdate,
                               AmazonOpenSearchServerlessDestinationUpdate, SnowflakeDestinationUpdate,
                               IcebergDestinationUpdate) if u is not None]
        if len(updates) != 1:
            raise InvalidArgumentException("Exactly one destination update is supported for a Firehose")
        backend = self._backend
        if ExtendedS3DestinationUpdate is not None or S3DestinationUpdate is not None:
            update = ExtendedS3DestinationUpdate if ExtendedS3DestinationUpdate is not None else S3DestinationUpdate
            destination = _extended_s3(update, backend.current_destination(DeliveryStreamName, ExtendedS3))
        elif HttpEndpointDestinationUpdate is not None:
            destination = _http(HttpEndpointDestinationUpdate,
                                backend.current_destination(DeliveryStreamName, HttpEndpoint))
        elif IcebergDestinationUpdate is not None:
            destination = _iceberg(IcebergDestinationUpdate,
                                   backend.current_destination(DeliveryStreamName, IcebergDestination))
        else:
            raise InvalidArgumentException("This destination type is not supported by this engine.")
        backend.update_destination(DeliveryStreamName, CurrentDeliveryStreamVersionId, DestinationId, destination)
        return {}

    # --- records -----------------------------------------------------------------------
    def put_record(self, *, DeliveryStreamName, Record):
        stream = self._backend.get(DeliveryStreamName)
        if stream.put_request([to_blob("Record.Data", Record["Data"])]) < 1:
            raise errors.ServiceUnavailableException("Slow down.")
        return {"RecordId": _record_ids(1)[0], "Encrypted": stream.encryption.status == "ENABLED"}

    def put_record_batch(self, *, DeliveryStreamName, Records):
        return self._put_blobs(DeliveryStreamName, [to_blob("Records.Data", r["Data"]) for r in Records])

    def _put_blobs(self, name: str, blobs: list[bytes]) -> dict:
        """PutRecordBatch's result for its records' bytes (the request already checked against
        the model: the server's fast path comes here with the blobs it decoded)."""
        stream = self._backend.get(name)
        accepted = stream.put_request(blobs)
        responses = [{"RecordId": record_id} for record_id in _record_ids(accepted)]
        responses += [{"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
                      for _ in range(len(blobs) - accepted)]
        return {"FailedPutCount": len(blobs) - accepted, "Encrypted": stream.encryption.status == "ENABLED",
                "RequestResponses": responses}

    # --- tags ----------------------------------------------------------------------------
    def tag_delivery_stream(self, *, DeliveryStreamName, Tags):
        self._backend.get(DeliveryStreamName).tag(_tags(Tags))
        return {}

    def untag_delivery_stream(self, *, DeliveryStreamName, TagKeys):
        self._backend.get(DeliveryStreamName).untag(TagKeys)
        return {}

    def list_tags_for_delivery_stream(self, *, DeliveryStreamName, ExclusiveStartTagKey=None, Limit=None):
        page, more = self._backend.get(DeliveryStreamName).tags_page(ExclusiveStartTagKey,
                                                                     Limit or limits.FIREHOSE_TAGS_MAX)
        return {"Tags": [{"Key": k, "Value": v} for k, v in page], "HasMoreTags": more}

    # --- encryption ----------------------------------------------------------------------
    def start_delivery_stream_encryption(self, *, DeliveryStreamName, DeliveryStreamEncryptionConfigurationInput=None):
        self._backend.get(DeliveryStreamName).start_encryption(
            _encryption(DeliveryStreamEncryptionConfigurationInput or {"KeyType": "AWS_OWNED_CMK"}))
        return {}

    def stop_delivery_stream_encryption(self, *, DeliveryStreamName):
        self._backend.get(DeliveryStreamName).stop_encryption()
        return {}


__all__ = ["FirehoseClient", "ResourceNotFoundException"]
