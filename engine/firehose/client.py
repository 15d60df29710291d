"""boto3-shaped Firehose client: validate, translate to the model, shape responses like botocore."""
from __future__ import annotations

import base64
import datetime
import re
import secrets

from .. import limits
from ..client_base import (
    BaseClient,
    check_bool,
    check_dict,
    check_int,
    check_list,
    check_str,
    constraint_message,
    to_blob,
)
from . import errors
from .errors import InvalidArgumentException, ResourceNotFoundException, ServiceUnavailableException, \
    ValidationException
from .models import (
    DESTINATION_ID,
    BufferingHints,
    Conversion,
    Encryption,
    ExtendedS3,
    HttpEndpoint,
    KinesisSource,
    Processing,
    Processor,
    S3Destination,
)

_NAME = re.compile(limits.FIREHOSE_NAME_PATTERN)
_ROLE = re.compile(r"arn:.*:iam::\d{12}:role/[a-zA-Z_0-9+=,.@\-_/]+")
_BUCKET = re.compile(r"arn:.*:s3:::[\w\.\-]{1,255}")
_KINESIS = re.compile(r"arn:.*:kinesis:[a-zA-Z0-9\-]+:\d{12}:stream/[a-zA-Z0-9_.-]+")
_KMS = re.compile(r"arn:.*:kms:[a-zA-Z0-9\-]+:\d{12}:(key|alias)/[a-zA-Z_0-9+=,.@\-_/]+")
_EXT = re.compile(r"^$|\.[0-9a-z!\-_.*'()]+")
_TZ = re.compile(r"^$|[a-zA-Z/_]+")
_URL = re.compile(r"https?://.+")      # AWS requires https; plain http is accepted for local endpoints
_TAG_KEY = re.compile(r"^(?!aws:)[\w\s_.:/=+\-@%]*$")

COMPRESSIONS = ("UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY")
STREAM_TYPES = ("DirectPut", "KinesisStreamAsSource", "MSKAsSource", "DatabaseAsSource")
PROCESSOR_TYPES = ("RecordDeAggregation", "Decompression", "CloudWatchLogProcessing", "Lambda", "MetadataExtraction",
                   "AppendDelimiterToRecord")
PARAMETER_NAMES = ("LambdaArn", "NumberOfRetries", "MetadataExtractionQuery", "JsonParsingEngine", "RoleArn",
                   "BufferSizeInMBs", "BufferIntervalInSeconds", "SubRecordType", "Delimiter", "CompressionFormat",
                   "DataMessageExtraction")
PARQUET_COMPRESSIONS = ("UNCOMPRESSED", "GZIP", "SNAPPY", "ZSTD")   # ZSTD: an engine extension
ORC_COMPRESSIONS = ("NONE", "ZLIB", "SNAPPY")
_UNSUPPORTED_DESTINATIONS = ("RedshiftDestinationConfiguration", "ElasticsearchDestinationConfiguration",
                             "AmazonopensearchserviceDestinationConfiguration", "SplunkDestinationConfiguration",
                             "AmazonOpenSearchServerlessDestinationConfiguration", "SnowflakeDestinationConfiguration",
                             "IcebergDestinationConfiguration")


def _ts(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)


def _invalid(field: str, value, constraint: str) -> ValidationException:
    return ValidationException(constraint_message(field, value, constraint))


def _camel(path: str) -> str:
    """ExtendedS3DestinationConfiguration.BufferingHints -> extendedS3DestinationConfiguration.bufferingHints."""
    return ".".join(p[:1].lower() + p[1:] for p in path.split("."))


def _string(path: str, value, *, pattern=None, min_len=0, max_len=None, required=False):
    if value is None:
        if required:
            raise _invalid(_camel(path), value, "Member must not be null")
        return None
    check_str(path, value)
    if len(value) < min_len:
        raise _invalid(_camel(path), value, f"Member must have length greater than or equal to {min_len}")
    if max_len is not None and len(value) > max_len:
        raise _invalid(_camel(path), value, f"Member must have length less than or equal to {max_len}")
    if pattern is not None and not pattern.fullmatch(value):
        raise _invalid(_camel(path), value, f"Member must satisfy regular expression pattern: {pattern.pattern}")
    return value


def _int(path: str, value, lo=None, hi=None):
    if value is None:
        return None
    check_int(path, value)
    if lo is not None and value < lo:
        raise _invalid(_camel(path), value, f"Member must have value greater than or equal to {lo}")
    if hi is not None and value > hi:
        raise _invalid(_camel(path), value, f"Member must have value less than or equal to {hi}")
    return value


def _enum(path: str, value, choices):
    if value is None:
        return None
    check_str(path, value)
    if value not in choices:
        raise _invalid(_camel(path), value, f"Member must satisfy enum value set: [{', '.join(choices)}]")
    return value


def _name(value, field="deliveryStreamName"):
    return _string(field, value, pattern=_NAME, min_len=1, max_len=limits.FIREHOSE_NAME_MAX, required=True)


# --- request -> model ------------------------------------------------------------------
def _buffering(path: str, value, current: BufferingHints | None = None, max_mb=limits.FIREHOSE_BUFFER_SIZE_MAX_MB,
               default_mb=limits.FIREHOSE_BUFFER_SIZE_DEFAULT_MB) -> BufferingHints:
    if value is None:
        return current or BufferingHints(default_mb, limits.FIREHOSE_BUFFER_INTERVAL_DEFAULT_S)
    check_dict(path, value)
    size = _int(f"{path}.SizeInMBs", value.get("SizeInMBs"), limits.FIREHOSE_BUFFER_SIZE_MIN_MB, max_mb)
    interval = _int(f"{path}.IntervalInSeconds", value.get("IntervalInSeconds"),
                    limits.FIREHOSE_BUFFER_INTERVAL_MIN_S, limits.FIREHOSE_BUFFER_INTERVAL_MAX_S)
    base = current or BufferingHints(default_mb, limits.FIREHOSE_BUFFER_INTERVAL_DEFAULT_S)
    return BufferingHints(size if size is not None else base.size_mb,
                          interval if interval is not None else base.interval_s)


def _encryption_config(path: str, value):
    if value is None:
        return None
    check_dict(path, value)
    kms = value.get("KMSEncryptionConfig")
    if kms is not None:
        check_dict(f"{path}.KMSEncryptionConfig", kms)
        return _string(f"{path}.KMSEncryptionConfig.AWSKMSKeyARN", kms.get("AWSKMSKeyARN"), pattern=_KMS,
                       min_len=1, max_len=512, required=True)
    if value.get("NoEncryptionConfig") not in (None, "NoEncryption"):
        raise _invalid(_camel(f"{path}.NoEncryptionConfig"), value.get("NoEncryptionConfig"),
                       "Member must satisfy enum value set: [NoEncryption]")
    return None


def _s3(path: str, value: dict, current: S3Destination | None = None, *, require=True) -> S3Destination:
    check_dict(path, value)
    base = current
    bucket = _string(f"{path}.BucketARN", value.get("BucketARN"), pattern=_BUCKET, min_len=1, max_len=2048,
                     required=require and base is None)
    role = _string(f"{path}.RoleARN", value.get("RoleARN"), pattern=_ROLE, min_len=1, max_len=512,
                   required=require and base is None)
    prefix = _string(f"{path}.Prefix", value.get("Prefix"), max_len=1024)
    error_prefix = _string(f"{path}.ErrorOutputPrefix", value.get("ErrorOutputPrefix"), max_len=1024)
    compression = _enum(f"{path}.CompressionFormat", value.get("CompressionFormat"), COMPRESSIONS)
    kms = _encryption_config(f"{path}.EncryptionConfiguration", value.get("EncryptionConfiguration"))
    cloudwatch = value.get("CloudWatchLoggingOptions")
    if cloudwatch is not None:
        check_dict(f"{path}.CloudWatchLoggingOptions", cloudwatch)
    ext = _string(f"{path}.FileExtension", value.get("FileExtension"), pattern=_EXT, max_len=128)
    tz = _string(f"{path}.CustomTimeZone", value.get("CustomTimeZone"), pattern=_TZ, max_len=50)
    if base is None:
        base = S3Destination(bucket_arn=bucket or "", role_arn=role or "")
    return S3Destination(
        bucket_arn=bucket if bucket is not None else base.bucket_arn,
        role_arn=role if role is not None else base.role_arn,
        prefix=prefix if "Prefix" in value else base.prefix,
        error_prefix=error_prefix if "ErrorOutputPrefix" in value else base.error_prefix,
        buffering=_buffering(f"{path}.BufferingHints", value.get("BufferingHints"), base.buffering),
        compression=compression or base.compression,
        kms_key_arn=kms if "EncryptionConfiguration" in value else base.kms_key_arn,
        cloudwatch=dict(cloudwatch) if cloudwatch is not None else base.cloudwatch,
        file_extension=ext if "FileExtension" in value else base.file_extension,
        custom_time_zone=tz if "CustomTimeZone" in value else base.custom_time_zone,
    )


def _processing(path: str, value, current: Processing | None = None) -> Processing:
    if value is None:
        return current or Processing()
    check_dict(path, value)
    enabled = value.get("Enabled", False)
    check_bool(f"{path}.Enabled", enabled)
    processors = []
    for i, proc in enumerate(check_list(f"{path}.Processors", value.get("Processors", []))):
        p = f"{path}.Processors.{i + 1}.member"
        check_dict(p, proc)
        kind = _enum(f"{p}.Type", proc.get("Type"), PROCESSOR_TYPES)
        if kind is None:
            raise _invalid(_camel(f"{p}.Type"), None, "Member must not be null")
        params = {}
        for j, param in enumerate(check_list(f"{p}.Parameters", proc.get("Parameters", []))):
            q = f"{p}.Parameters.{j + 1}.member"
            check_dict(q, param)
            pname = _enum(f"{q}.ParameterName", param.get("ParameterName"), PARAMETER_NAMES)
            pvalue = _string(f"{q}.ParameterValue", param.get("ParameterValue"), min_len=1, max_len=5120,
                             required=True)
            params[pname] = pvalue
        if kind == "Lambda":
            if "NumberOfRetries" in params and not (params["NumberOfRetries"].isdigit()
                                                    and 0 <= int(params["NumberOfRetries"]) <= 300):
                raise InvalidArgumentException("NumberOfRetries must be an integer between 0 and 300.")
            if "BufferSizeInMBs" in params:
                try:
                    size = float(params["BufferSizeInMBs"])
                except ValueError:
                    size = -1
                if not 0.2 <= size <= limits.FIREHOSE_LAMBDA_BUFFER_MAX_MB:
                    raise InvalidArgumentException("BufferSizeInMBs for a Lambda processor must be between 0.2 and "
                                                   f"{limits.FIREHOSE_LAMBDA_BUFFER_MAX_MB}.")
        processors.append(Processor(kind, params))
    return Processing(enabled, processors)


def _conversion(path: str, value, current: Conversion | None = None) -> Conversion | None:
    if value is None:
        return current
    check_dict(path, value)
    enabled = value.get("Enabled", True)
    check_bool(f"{path}.Enabled", enabled)
    base = current or Conversion(enabled=enabled)
    schema = value.get("SchemaConfiguration")
    conv = Conversion(enabled=enabled, database=base.database, table=base.table, catalog_id=base.catalog_id,
                      region=base.region, role_arn=base.role_arn, version_id=base.version_id,
                      deserializer=base.deserializer, deserializer_options=dict(base.deserializer_options),
                      serializer=base.serializer, serializer_options=dict(base.serializer_options))
    if schema is not None:
        check_dict(f"{path}.SchemaConfiguration", schema)
        for key, attr in (("RoleARN", "role_arn"), ("CatalogId", "catalog_id"), ("DatabaseName", "database"),
                          ("TableName", "table"), ("Region", "region"), ("VersionId", "version_id")):
            if key in schema:
                setattr(conv, attr, _string(f"{path}.SchemaConfiguration.{key}", schema[key],
                                            pattern=re.compile(r"^\S+$"), min_len=1, max_len=1024))
    inp = value.get("InputFormatConfiguration")
    if inp is not None:
        deser = check_dict(f"{path}.InputFormatConfiguration", inp).get("Deserializer") or {}
        check_dict(f"{path}.InputFormatConfiguration.Deserializer", deser)
        if len(deser) != 1 or next(iter(deser)) not in ("OpenXJsonSerDe", "HiveJsonSerDe"):
            raise InvalidArgumentException("Deserializer must specify exactly one of OpenXJsonSerDe and HiveJsonSerDe.")
        conv.deserializer, options = next(iter(deser.items()))
        conv.deserializer_options = dict(check_dict(f"{path}.InputFormatConfiguration.Deserializer.{conv.deserializer}",
                                                    options or {}))
    out = value.get("OutputFormatConfiguration")
    if out is not None:
        ser = check_dict(f"{path}.OutputFormatConfiguration", out).get("Serializer") or {}
        check_dict(f"{path}.OutputFormatConfiguration.Serializer", ser)
        if len(ser) != 1 or next(iter(ser)) not in ("ParquetSerDe", "OrcSerDe"):
            raise InvalidArgumentException("Serializer must specify exactly one of ParquetSerDe and OrcSerDe.")
        conv.serializer, options = next(iter(ser.items()))
        options = dict(check_dict(f"{path}.OutputFormatConfiguration.Serializer.{conv.serializer}", options or {}))
        sp = f"{path}.OutputFormatConfiguration.Serializer.{conv.serializer}"
        if conv.serializer == "ParquetSerDe":
            _enum(f"{sp}.Compression", options.get("Compression"), PARQUET_COMPRESSIONS)
            _int(f"{sp}.BlockSizeBytes", options.get("BlockSizeBytes"), 67108864)
            _int(f"{sp}.PageSizeBytes", options.get("PageSizeBytes"), 65536)
            _enum(f"{sp}.WriterVersion", options.get("WriterVersion"), ("V1", "V2"))
        else:
            _enum(f"{sp}.Compression", options.get("Compression"), ORC_COMPRESSIONS)
        conv.serializer_options = options
    if conv.enabled:
        if schema is None and current is None:
            raise InvalidArgumentException("SchemaConfiguration is required when DataFormatConversionConfiguration "
                                           "is enabled.")
        if not conv.database or not conv.table:
            raise InvalidArgumentException("SchemaConfiguration must specify DatabaseName and TableName.")
        if inp is None and current is None:
            raise InvalidArgumentException("InputFormatConfiguration is required when DataFormatConversionConfiguration "
                                           "is enabled.")
        if out is None and current is None:
            raise InvalidArgumentException("OutputFormatConfiguration is required when "
                                           "DataFormatConversionConfiguration is enabled.")
    return conv


def _dynamic(path: str, value):
    if value is None:
        return None, None
    check_dict(path, value)
    enabled = value.get("Enabled")
    if enabled is not None:
        check_bool(f"{path}.Enabled", enabled)
    retry = value.get("RetryOptions")
    seconds = None
    if retry is not None:
        check_dict(f"{path}.RetryOptions", retry)
        seconds = _int(f"{path}.RetryOptions.DurationInSeconds", retry.get("DurationInSeconds"), 0,
                       limits.FIREHOSE_RETRY_DURATION_MAX_S)
    return enabled, seconds


def _extended_s3(path: str, value: dict, current: ExtendedS3 | None = None) -> ExtendedS3:
    s3 = _s3(path, value, current.s3 if current else None)
    backup_mode = _enum(f"{path}.S3BackupMode", value.get("S3BackupMode"), ("Disabled", "Enabled"))
    backup_cfg = value.get("S3BackupConfiguration") if "S3BackupConfiguration" in value else \
        value.get("S3BackupUpdate")
    backup = current.backup if current else None
    if backup_cfg is not None:
        backup = _s3(f"{path}.S3BackupConfiguration", backup_cfg, backup)
    conversion = _conversion(f"{path}.DataFormatConversionConfiguration", value.get("DataFormatConversionConfiguration"),
                             current.conversion if current else None)
    dp_enabled, dp_retry = _dynamic(f"{path}.DynamicPartitioningConfiguration",
                                    value.get("DynamicPartitioningConfiguration"))
    # with conversion the default buffer is 128 MiB (at least 64), as AWS sets it
    if conversion is not None and conversion.enabled and value.get("BufferingHints") is None and current is None:
        s3.buffering = BufferingHints(limits.FIREHOSE_BUFFER_SIZE_CONVERSION_DEFAULT_MB, s3.buffering.interval_s)
    if dp_enabled and value.get("BufferingHints") is None and current is None:
        s3.buffering = BufferingHints(limits.FIREHOSE_BUFFER_SIZE_CONVERSION_DEFAULT_MB, s3.buffering.interval_s)
    return ExtendedS3(
        s3=s3,
        processing=_processing(f"{path}.ProcessingConfiguration", value.get("ProcessingConfiguration"),
                               current.processing if current else None),
        backup_mode=backup_mode or (current.backup_mode if current else "Disabled"),
        backup=backup,
        conversion=conversion,
        dynamic_partitioning=dp_enabled if dp_enabled is not None else (current.dynamic_partitioning if current else None),
        dynamic_partitioning_retry_s=dp_retry if dp_retry is not None else
        (current.dynamic_partitioning_retry_s if current else None),
    )


def _http(path: str, value: dict, current: HttpEndpoint | None = None) -> HttpEndpoint:
    check_dict(path, value)
    ep = value.get("EndpointConfiguration")
    if ep is None and current is None:
        raise _invalid(_camel(f"{path}.EndpointConfiguration"), None, "Member must not be null")
    url, name, key = (current.url, current.name, current.access_key) if current else (None, None, None)
    if ep is not None:
        check_dict(f"{path}.EndpointConfiguration", ep)
        url = _string(f"{path}.EndpointConfiguration.Url", ep.get("Url"), pattern=_URL, min_len=1, max_len=1000,
                      required=True)
        name = _string(f"{path}.EndpointConfiguration.Name", ep.get("Name"), min_len=1, max_len=256)
        key = _string(f"{path}.EndpointConfiguration.AccessKey", ep.get("AccessKey"), max_len=4096)
    s3_cfg = value.get("S3Configuration") if "S3Configuration" in value else value.get("S3Update")
    if s3_cfg is None and current is None:
        raise _invalid(_camel(f"{path}.S3Configuration"), None, "Member must not be null")
    s3 = _s3(f"{path}.S3Configuration", s3_cfg, current.s3 if current else None) if s3_cfg is not None else current.s3
    req = value.get("RequestConfiguration")
    encoding = current.content_encoding if current else "NONE"
    attrs = dict(current.common_attributes) if current else {}
    if req is not None:
        check_dict(f"{path}.RequestConfiguration", req)
        encoding = _enum(f"{path}.RequestConfiguration.ContentEncoding", req.get("ContentEncoding"),
                         ("NONE", "GZIP")) or encoding
        if "CommonAttributes" in req:
            attrs = {}
            for i, a in enumerate(check_list(f"{path}.RequestConfiguration.CommonAttributes",
                                             req["CommonAttributes"])):
                check_dict(f"{path}.RequestConfiguration.CommonAttributes[{i}]", a)
                attrs[a["AttributeName"]] = a.get("AttributeValue", "")
    retry = current.retry_s if current else limits.FIREHOSE_RETRY_DURATION_DEFAULT_S
    if value.get("RetryOptions") is not None:
        check_dict(f"{path}.RetryOptions", value["RetryOptions"])
        got = _int(f"{path}.RetryOptions.DurationInSeconds", value["RetryOptions"].get("DurationInSeconds"), 0,
                   limits.FIREHOSE_RETRY_DURATION_MAX_S)
        retry = retry if got is None else got
    return HttpEndpoint(
        url=url, s3=s3, name=name, access_key=key,
        buffering=_buffering(f"{path}.BufferingHints", value.get("BufferingHints"),
                             current.buffering if current else None, max_mb=limits.FIREHOSE_HTTP_BUFFER_SIZE_MAX_MB),
        content_encoding=encoding, common_attributes=attrs,
        processing=_processing(f"{path}.ProcessingConfiguration", value.get("ProcessingConfiguration"),
                               current.processing if current else None),
        role_arn=_string(f"{path}.RoleARN", value.get("RoleARN"), pattern=_ROLE, min_len=1, max_len=512)
        or (current.role_arn if current else None),
        retry_s=retry,
        backup_mode=_enum(f"{path}.S3BackupMode", value.get("S3BackupMode"), ("FailedDataOnly", "AllData"))
        or (current.backup_mode if current else "FailedDataOnly"),
        cloudwatch=value.get("CloudWatchLoggingOptions") or (current.cloudwatch if current else None),
    )


# --- model -> response -----------------------------------------------------------------
def _buffering_dict(b: BufferingHints) -> dict:
    return {"SizeInMBs": b.size_mb, "IntervalInSeconds": b.interval_s}


def _encryption_dict(s3: S3Destination) -> dict:
    if s3.kms_key_arn:
        return {"KMSEncryptionConfig": {"AWSKMSKeyARN": s3.kms_key_arn}}
    return {"NoEncryptionConfig": "NoEncryption"}


def _s3_dict(s3: S3Destination) -> dict:
    out = {"RoleARN": s3.role_arn, "BucketARN": s3.bucket_arn}
    if s3.prefix is not None:
        out["Prefix"] = s3.prefix
    if s3.error_prefix is not None:
        out["ErrorOutputPrefix"] = s3.error_prefix
    out["BufferingHints"] = _buffering_dict(s3.buffering)
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
    return {
        "SchemaConfiguration": schema,
        "InputFormatConfiguration": {"Deserializer": {c.deserializer: dict(c.deserializer_options)}},
        "OutputFormatConfiguration": {"Serializer": {c.serializer: dict(c.serializer_options)}},
        "Enabled": c.enabled,
    }


def _destination_dict(dest) -> dict:
    if isinstance(dest, ExtendedS3):
        ext = _s3_dict(dest.s3)
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
        return {"DestinationId": DESTINATION_ID, "S3DestinationDescription": _s3_dict(dest.s3),
                "ExtendedS3DestinationDescription": ext}
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


def _record_id() -> str:
    """An opaque id like the ones Firehose returns (a long base64 token)."""
    return base64.b64encode(secrets.token_bytes(168)).decode("ascii").replace("/", "R").replace("+", "Q")[:224]


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
        name = _name(DeliveryStreamName)
        stream_type = _enum("DeliveryStreamType", DeliveryStreamType, STREAM_TYPES)
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
            raise InvalidArgumentException(f"{kind} is not supported by this engine; use ExtendedS3 or HttpEndpoint.")
        if stream_type in ("MSKAsSource", "DatabaseAsSource"):
            raise InvalidArgumentException(f"DeliveryStreamType {stream_type} is not supported by this engine.")
        if kind == "HttpEndpointDestinationConfiguration":
            destination = _http(kind, config)
        else:
            destination = _extended_s3(kind, config)
        if DirectPutSourceConfiguration is not None:
            check_dict("DirectPutSourceConfiguration", DirectPutSourceConfiguration)
            if stream_type != "DirectPut":
                raise InvalidArgumentException("DirectPutSourceConfiguration is only valid for DirectPut streams.")
        source = None
        if KinesisStreamSourceConfiguration is not None:
            check_dict("KinesisStreamSourceConfiguration", KinesisStreamSourceConfiguration)
            arn = _string("KinesisStreamSourceConfiguration.KinesisStreamARN",
                          KinesisStreamSourceConfiguration.get("KinesisStreamARN"), pattern=_KINESIS, min_len=1,
                          max_len=512, required=True)
            role = _string("KinesisStreamSourceConfiguration.RoleARN", KinesisStreamSourceConfiguration.get("RoleARN"),
                           pattern=_ROLE, min_len=1, max_len=512, required=True)
            source = KinesisSource(arn, role)
        encryption = None
        if DeliveryStreamEncryptionConfigurationInput is not None:
            encryption = self._encryption_input(DeliveryStreamEncryptionConfigurationInput)
        tags = self._tags(Tags or [], allow_empty=True)
        if stream_type == "KinesisStreamAsSource" and source is not None:
            try:
                import engine.kinesis.models  # noqa: F401 - the source stream lives there
            except ImportError:
                raise InvalidArgumentException("Kinesis is not available in this engine build.") from None
        stream = self._backend.create_delivery_stream(name, destination, stream_type=stream_type,
                                                      kinesis_source=source, encryption=encryption, tags=tags)
        return {"DeliveryStreamARN": stream.arn}

    def delete_delivery_stream(self, *, DeliveryStreamName, AllowForceDelete=None):
        self._backend.delete_delivery_stream(_name(DeliveryStreamName))
        return {}

    def describe_delivery_stream(self, *, DeliveryStreamName, Limit=None, ExclusiveStartDestinationId=None):
        s = self._backend.get(_name(DeliveryStreamName))
        _int("Limit", Limit, 1, 10000)
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
        desc["Destinations"] = [] if ExclusiveStartDestinationId == DESTINATION_ID else \
            [_destination_dict(s.destination)]
        desc["HasMoreDestinations"] = False
        return {"DeliveryStreamDescription": desc}

    def list_delivery_streams(self, *, Limit=None, DeliveryStreamType=None, ExclusiveStartDeliveryStreamName=None):
        limit = _int("limit", Limit, 1, 10000) or limits.FIREHOSE_LIST_STREAMS_DEFAULT
        _enum("deliveryStreamType", DeliveryStreamType, STREAM_TYPES)
        if ExclusiveStartDeliveryStreamName is not None:
            _name(ExclusiveStartDeliveryStreamName, "exclusiveStartDeliveryStreamName")
        names = self._backend.list_delivery_streams(DeliveryStreamType, ExclusiveStartDeliveryStreamName)
        return {"DeliveryStreamNames": names[:limit], "HasMoreDeliveryStreams": len(names) > limit}

    def update_destination(self, *, DeliveryStreamName, CurrentDeliveryStreamVersionId, DestinationId,
                           S3DestinationUpdate=None, ExtendedS3DestinationUpdate=None, RedshiftDestinationUpdate=None,
                           ElasticsearchDestinationUpdate=None, AmazonopensearchserviceDestinationUpdate=None,
                           SplunkDestinationUpdate=None, HttpEndpointDestinationUpdate=None,
                           AmazonOpenSearchServerlessDestinationUpdate=None, SnowflakeDestinationUpdate=None,
                           IcebergDestinationUpdate=None):
        name = _name(DeliveryStreamName)
        _string("currentDeliveryStreamVersionId", CurrentDeliveryStreamVersionId, pattern=re.compile(r"[0-9]+"),
                min_len=1, max_len=50, required=True)
        _string("destinationId", DestinationId, pattern=re.compile(r"[a-zA-Z0-9-]+"), min_len=1, max_len=100,
                required=True)
        stream = self._backend.get(name)
        current = stream.destination
        updates = [u for u in (S3DestinationUpdate, ExtendedS3DestinationUpdate, HttpEndpointDestinationUpdate,
                               RedshiftDestinationUpdate, ElasticsearchDestinationUpdate,
                               AmazonopensearchserviceDestinationUpdate, SplunkDestinationUpdate,
                               AmazonOpenSearchServerlessDestinationUpdate, SnowflakeDestinationUpdate,
                               IcebergDestinationUpdate) if u is not None]
        if len(updates) != 1:
            raise InvalidArgumentException("Exactly one destination update is supported for a Firehose")
        if ExtendedS3DestinationUpdate is not None or S3DestinationUpdate is not None:
            if not isinstance(current, ExtendedS3):
                raise InvalidArgumentException(f"Changing the destination type to or from {current.kind} is not "
                                               "supported at this time.")
            update = ExtendedS3DestinationUpdate if ExtendedS3DestinationUpdate is not None else S3DestinationUpdate
            destination = _extended_s3("ExtendedS3DestinationUpdate", update, current)
        elif HttpEndpointDestinationUpdate is not None:
            if not isinstance(current, HttpEndpoint):
                raise InvalidArgumentException(f"Changing the destination type to or from {current.kind} is not "
                                               "supported at this time.")
            destination = _http("HttpEndpointDestinationUpdate", HttpEndpointDestinationUpdate, current)
        else:
            raise InvalidArgumentException("This destination type is not supported by this engine.")
        self._backend.update_destination(name, CurrentDeliveryStreamVersionId, DestinationId, destination)
        return {}

    # --- records -----------------------------------------------------------------------
    def put_record(self, *, DeliveryStreamName, Record):
        name = _name(DeliveryStreamName)
        check_dict("Record", Record)
        if "Data" not in Record:
            raise ValidationException(constraint_message("record.data", None, "Member must not be null"))
        data = to_blob("Record.Data", Record["Data"])
        if len(data) > limits.FIREHOSE_RECORD_MAX:
            raise ValidationException(
                f"1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim={len(data)} cap={len(data)}]'"
                f" at 'record.data' failed to satisfy constraint: Member must have length less than or equal to "
                f"{limits.FIREHOSE_RECORD_MAX}")
        stream = self._backend.get(name)
        self._check_direct_put(stream)
        if stream.admit([len(data)]) < 1:
            raise ServiceUnavailableException("Slow down.")
        stream.put_batch([data])
        return {"RecordId": _record_id(), "Encrypted": stream.encryption.status == "ENABLED"}

    def put_record_batch(self, *, DeliveryStreamName, Records):
        name = _name(DeliveryStreamName)
        check_list("Records", Records)
        if not Records:
            raise ValidationException(constraint_message("records", "[]", "Member must have length greater than or "
                                                                          "equal to 1"))
        if len(Records) > limits.FIREHOSE_BATCH_RECORDS_MAX:
            raise ValidationException(constraint_message(
                "records", f"[{len(Records)} records]",
                f"Member must have length less than or equal to {limits.FIREHOSE_BATCH_RECORDS_MAX}"))
        blobs = []
        for i, rec in enumerate(Records):
            check_dict(f"Records[{i}]", rec)
            if "Data" not in rec:
                raise ValidationException(constraint_message(f"records.{i + 1}.member.data", None,
                                                             "Member must not be null"))
            data = to_blob(f"Records[{i}].Data", rec["Data"])
            if len(data) > limits.FIREHOSE_RECORD_MAX:
                raise ValidationException(
                    f"1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim={len(data)} "
                    f"cap={len(data)}]' at 'records.{i + 1}.member.data' failed to satisfy constraint: Member must "
                    f"have length less than or equal to {limits.FIREHOSE_RECORD_MAX}")
            blobs.append(data)
        total = sum(map(len, blobs))
        if total > limits.FIREHOSE_BATCH_BYTES_MAX:
            raise InvalidArgumentException(
                f"Records size exceeds {limits.FIREHOSE_BATCH_BYTES_MAX} bytes limit: {total} bytes. A PutRecordBatch "
                f"request can carry up to {limits.FIREHOSE_BATCH_RECORDS_MAX} records or 4 MiB.")
        stream = self._backend.get(name)
        self._check_direct_put(stream)
        accepted = stream.admit([len(b) for b in blobs])
        if accepted:
            stream.put_batch(blobs[:accepted])
        responses = [{"RecordId": _record_id()} for _ in range(accepted)]
        responses += [{"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
                      for _ in range(len(blobs) - accepted)]
        return {"FailedPutCount": len(blobs) - accepted, "Encrypted": stream.encryption.status == "ENABLED",
                "RequestResponses": responses}

    @staticmethod
    def _check_direct_put(stream):
        if stream.type != "DirectPut":
            raise InvalidArgumentException(f"This operation is not permitted on {stream.type} delivery stream type.")

    # --- tags ----------------------------------------------------------------------------
    def _tags(self, tags, allow_empty=False) -> dict:
        check_list("Tags", tags)
        if not tags and not allow_empty:
            raise ValidationException(constraint_message("tags", "[]", "Member must have length greater than or "
                                                                       "equal to 1"))
        if len(tags) > limits.FIREHOSE_TAGS_MAX:
            raise ValidationException(constraint_message("tags", tags, "Member must have length less than or equal "
                                                                       f"to {limits.FIREHOSE_TAGS_MAX}"))
        out = {}
        for i, tag in enumerate(tags):
            check_dict(f"Tags[{i}]", tag)
            key = _string(f"tags.{i + 1}.member.key", tag.get("Key"), pattern=_TAG_KEY, min_len=1, max_len=128,
                          required=True)
            value = _string(f"tags.{i + 1}.member.value", tag.get("Value", ""), max_len=256) or ""
            out[key] = value
        return out

    def tag_delivery_stream(self, *, DeliveryStreamName, Tags):
        stream = self._backend.get(_name(DeliveryStreamName))
        new = self._tags(Tags)
        merged = dict(stream.tags)
        merged.update(new)
        if len(merged) > limits.FIREHOSE_TAGS_MAX:
            raise errors.LimitExceededException(
                f"Firehose {stream.name} would have {len(merged)} tags; the limit is {limits.FIREHOSE_TAGS_MAX}.")
        stream.tags = merged
        return {}

    def untag_delivery_stream(self, *, DeliveryStreamName, TagKeys):
        stream = self._backend.get(_name(DeliveryStreamName))
        check_list("TagKeys", TagKeys)
        if not 1 <= len(TagKeys) <= limits.FIREHOSE_TAGS_MAX:
            raise ValidationException(constraint_message("tagKeys", TagKeys, "Member must have length between 1 and "
                                                                             f"{limits.FIREHOSE_TAGS_MAX}"))
        for key in TagKeys:
            stream.tags.pop(check_str("TagKeys[]", key), None)
        return {}

    def list_tags_for_delivery_stream(self, *, DeliveryStreamName, ExclusiveStartTagKey=None, Limit=None):
        stream = self._backend.get(_name(DeliveryStreamName))
        limit = _int("limit", Limit, 1, limits.FIREHOSE_TAGS_MAX) or limits.FIREHOSE_TAGS_MAX
        keys = sorted(stream.tags)
        if ExclusiveStartTagKey is not None:
            keys = [k for k in keys if k > ExclusiveStartTagKey]
        return {"Tags": [{"Key": k, "Value": stream.tags[k]} for k in keys[:limit]],
                "HasMoreTags": len(keys) > limit}

    # --- encryption ----------------------------------------------------------------------
    @staticmethod
    def _encryption_input(value) -> Encryption:
        check_dict("DeliveryStreamEncryptionConfigurationInput", value)
        key_type = _enum("deliveryStreamEncryptionConfigurationInput.keyType", value.get("KeyType"),
                         ("AWS_OWNED_CMK", "CUSTOMER_MANAGED_CMK"))
        if key_type is None:
            raise _invalid("deliveryStreamEncryptionConfigurationInput.keyType", None, "Member must not be null")
        arn = _string("deliveryStreamEncryptionConfigurationInput.keyARN", value.get("KeyARN"), pattern=_KMS,
                      min_len=1, max_len=512)
        if key_type == "CUSTOMER_MANAGED_CMK" and not arn:
            raise InvalidArgumentException("KeyARN is required when KeyType is CUSTOMER_MANAGED_CMK.")
        if key_type == "AWS_OWNED_CMK" and arn:
            raise InvalidArgumentException("KeyARN must not be specified when KeyType is AWS_OWNED_CMK.")
        return Encryption("ENABLED", key_type, arn)

    def start_delivery_stream_encryption(self, *, DeliveryStreamName, DeliveryStreamEncryptionConfigurationInput=None):
        stream = self._backend.get(_name(DeliveryStreamName))
        if stream.type == "KinesisStreamAsSource":
            raise InvalidArgumentException("Encryption is not supported for delivery streams with "
                                           "KinesisStreamAsSource as source.")
        stream.encryption = self._encryption_input(DeliveryStreamEncryptionConfigurationInput or
                                                   {"KeyType": "AWS_OWNED_CMK"})
        return {}

    def stop_delivery_stream_encryption(self, *, DeliveryStreamName):
        stream = self._backend.get(_name(DeliveryStreamName))
        if stream.type == "KinesisStreamAsSource":
            raise InvalidArgumentException("Encryption is not supported for delivery streams with "
                                           "KinesisStreamAsSource as source.")
        stream.encryption = Encryption("DISABLED")
        return {}


__all__ = ["FirehoseClient", "ResourceNotFoundException"]
