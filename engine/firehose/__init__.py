"""Amazon Data Firehose: buffered delivery of records to S3-style directories (raw or Parquet/ORC)
and to HTTP endpoints."""
