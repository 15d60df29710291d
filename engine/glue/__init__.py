"""AWS Glue Data Catalog: databases and tables, enough to name a Firehose Parquet schema."""
