"""Every AWS limit and default the engine honours, in one place.

Sources are the AWS documentation pages cited in shared/AWS-REFERENCE.md. Where the AWS
documentation changed (SQS 1 MiB messages, Kinesis 10 MiB records) the current figure is used.
"""

KiB = 1024
MiB = 1024 * KiB

ACCOUNT_ID = "000000000000"
DEFAULT_REGION = "us-east-1"

# --- Kinesis Data Streams -------------------------------------------------------------
KINESIS_STREAM_NAME_MAX = 128
KINESIS_STREAM_NAME_PATTERN = r"[a-zA-Z0-9_.-]+"
KINESIS_SHARD_COUNT_MIN = 1
KINESIS_SHARD_COUNT_MAX = 20_000          # account shard quota in the large regions
KINESIS_PARTITION_KEY_MIN = 1
KINESIS_PARTITION_KEY_MAX = 256           # unicode characters
KINESIS_HASH_KEY_MAX = 2**128 - 1
KINESIS_RECORD_SIZE_DEFAULT_KIB = 1024    # data + partition key
KINESIS_RECORD_SIZE_MIN_KIB = 1024
KINESIS_RECORD_SIZE_MAX_KIB = 10240       # opt-in large records
KINESIS_PUT_RECORDS_MAX = 500
KINESIS_PUT_RECORDS_BYTES_MAX = 5 * MiB   # data + partition keys, whole request
KINESIS_GET_RECORDS_MAX = 10_000
KINESIS_GET_RECORDS_BYTES_MAX = 10 * MiB
KINESIS_ITERATOR_TTL_S = 300              # shard iterators expire after 5 minutes
KINESIS_RETENTION_DEFAULT_H = 24
KINESIS_RETENTION_MIN_H = 24
KINESIS_RETENTION_MAX_H = 8760
# Retention's timer runs at most this often while expired records remain in a chunk still in use.
KINESIS_EXPIRY_SWEEP_MIN_S = 60
KINESIS_SHARD_WRITE_BYTES_PER_S = 1 * MiB
KINESIS_SHARD_WRITE_RECORDS_PER_S = 1000
KINESIS_SHARD_READ_BYTES_PER_S = 2 * MiB
KINESIS_SHARD_READ_CALLS_PER_S = 5
KINESIS_ON_DEMAND_INITIAL_SHARDS = 4      # 4 MiB/s / 4,000 records/s at creation
KINESIS_ON_DEMAND_SCALE_WINDOW_S = 60     # sustained over this window before a split
KINESIS_CONSUMERS_PER_STREAM = 20
KINESIS_CONSUMER_NAME_MAX = 128
KINESIS_SUBSCRIPTION_TTL_S = 300          # SubscribeToShard subscriptions last 5 minutes
KINESIS_TAGS_PER_STREAM = 50
KINESIS_TAG_KEY_MAX = 128
KINESIS_TAG_VALUE_MAX = 256
KINESIS_TAGS_PER_CALL = 10
KINESIS_LIST_SHARDS_MAX = 10_000
KINESIS_LIST_STREAMS_MAX = 10_000
KINESIS_SEQUENCE_NUMBER_PATTERN = r"0|([1-9]\d{0,128})"

# --- Amazon Data Firehose -------------------------------------------------------------
FIREHOSE_NAME_MAX = 64
FIREHOSE_NAME_PATTERN = r"[a-zA-Z0-9_.-]+"
FIREHOSE_RECORD_MAX = 1000 * KiB          # before base64
FIREHOSE_BATCH_RECORDS_MAX = 500
FIREHOSE_BATCH_BYTES_MAX = 4 * MiB
FIREHOSE_BUFFER_SIZE_MIN_MB = 1
FIREHOSE_BUFFER_SIZE_MAX_MB = 128
FIREHOSE_BUFFER_SIZE_DEFAULT_MB = 5
FIREHOSE_BUFFER_SIZE_CONVERSION_DEFAULT_MB = 128   # with record format conversion (>= 64)
FIREHOSE_BUFFER_INTERVAL_MIN_S = 0
FIREHOSE_BUFFER_INTERVAL_MAX_S = 900
FIREHOSE_BUFFER_INTERVAL_DEFAULT_S = 300
FIREHOSE_RETRY_DURATION_MAX_S = 7200
FIREHOSE_RETRY_DURATION_DEFAULT_S = 300
FIREHOSE_LAMBDA_RETRIES = 3
FIREHOSE_DEAGGREGATION_MAX = 500
FIREHOSE_RANDOM_STRING_LEN = 11           # !{firehose:random-string}
FIREHOSE_PREFIX_EVALUATED_MAX = 512        # Prefix/ErrorOutputPrefix after evaluation
FIREHOSE_PARTITIONING_BUFFER_MIN_MB = 64   # dynamic partitioning and record format conversion
FIREHOSE_HTTP_BUFFER_SIZE_MAX_MB = 64
FIREHOSE_LAMBDA_BUFFER_DEFAULT_MB = 1      # Lambda processor BufferSizeInMBs (0.2-3)
FIREHOSE_LAMBDA_BUFFER_MAX_MB = 3
FIREHOSE_KINESIS_POLL_INTERVAL_S = 1.0     # engine-time period of a Kinesis source's reader
FIREHOSE_HTTP_TIMEOUT_S = 180              # an endpoint must answer within 3 minutes
FIREHOSE_TAGS_MAX = 50
FIREHOSE_LIST_STREAMS_DEFAULT = 10
FIREHOSE_DIRECT_PUT_RECORDS_PER_S = 5000   # default quota (enforced with enforce_limits=True)
FIREHOSE_DIRECT_PUT_BYTES_PER_S = 5 * MiB

# --- SQS ------------------------------------------------------------------------------
SQS_QUEUE_NAME_MAX = 80
SQS_MESSAGE_SIZE_MIN = 1 * KiB
SQS_MESSAGE_SIZE_MAX = 1 * MiB
SQS_MESSAGE_SIZE_DEFAULT = 1 * MiB        # current CreateQueue reference: "Default: 1,048,576 bytes (1 MiB)" (older: 256 KiB)
SQS_RETENTION_MIN_S = 60
SQS_RETENTION_MAX_S = 14 * 24 * 3600
SQS_RETENTION_DEFAULT_S = 4 * 24 * 3600
SQS_VISIBILITY_MIN_S = 0
SQS_VISIBILITY_MAX_S = 12 * 3600
SQS_VISIBILITY_DEFAULT_S = 30
SQS_DELAY_MIN_S = 0
SQS_DELAY_MAX_S = 900
SQS_WAIT_TIME_MAX_S = 20
SQS_BATCH_MAX = 10
SQS_BATCH_ID_MAX = 80
SQS_RECEIVE_MAX = 10
SQS_MESSAGE_ATTRIBUTES_MAX = 10
SQS_INFLIGHT_STANDARD_MAX = 120_000
SQS_INFLIGHT_FIFO_MAX = 120_000           # current quotas-fifo page (older docs: 20,000)
SQS_DEDUP_WINDOW_S = 300
SQS_GROUP_ID_MAX = 128
SQS_DEDUP_ID_MAX = 128
SQS_PURGE_INTERVAL_S = 60
SQS_MAX_RECEIVE_COUNT_MIN = 1
SQS_MAX_RECEIVE_COUNT_MAX = 1000
SQS_LIST_QUEUES_MAX = 1000
SQS_KMS_REUSE_MIN_S = 60
SQS_KMS_REUSE_MAX_S = 86_400
SQS_KMS_REUSE_DEFAULT_S = 300
SQS_BATCH_BYTES_MAX = 1 * MiB             # sum of the bodies (+ attributes) of one SendMessageBatch
SQS_RECREATE_WAIT_S = 60                  # wait after DeleteQueue before re-creating the name
SQS_REDRIVE_ALLOW_SOURCES_MAX = 10        # RedriveAllowPolicy sourceQueueArns
SQS_PERMISSION_ACTIONS_MAX = 7            # actions per AddPermission statement
SQS_TAGS_MAX = 50
SQS_TAG_KEY_MAX = 128
SQS_TAG_VALUE_MAX = 256
SQS_MOVE_RATE_MAX = 500                   # StartMessageMoveTask MaxNumberOfMessagesPerSecond
SQS_LIST_MOVE_TASKS_MAX = 10
SQS_ATTEMPT_ID_WINDOW_S = 300             # ReceiveRequestAttemptId usable for 5 minutes

# --- SNS ------------------------------------------------------------------------------
SNS_TOPIC_NAME_MAX = 256
SNS_MESSAGE_SIZE_MAX = 256 * KiB
SNS_BATCH_MAX = 10
SNS_SUBJECT_MAX = 100
SNS_FILTER_KEYS_MAX = 5
SNS_FILTER_COMBINATIONS_MAX = 150
SNS_FILTER_NUMERIC_ABS_MAX = 1_000_000_000
SNS_FILTER_POLICY_BYTES_MAX = 256 * KiB
SNS_DEDUP_WINDOW_S = 300
SNS_FIFO_SUBSCRIPTIONS_MAX = 100
SNS_LIST_PAGE = 100
SNS_TOPICS_MAX = 100_000                  # standard topics per account
SNS_FIFO_TOPICS_MAX = 1_000
SNS_TAGS_MAX = 50
SNS_TAG_KEY_MAX = 128
SNS_TAG_VALUE_MAX = 256
SNS_BATCH_ID_MAX = 80                     # PublishBatchRequestEntry Id
SNS_FIFO_ID_MAX = 128                     # MessageGroupId / MessageDeduplicationId
SNS_ATTRIBUTE_NAME_MAX = 256              # message attribute names (bytes)
SNS_RAW_SQS_ATTRIBUTES_MAX = 10           # raw delivery to SQS carries at most 10 attributes
SNS_FILTER_POLICIES_PER_TOPIC_MAX = 200   # default quota
SNS_CONFIRM_TOKEN_TTL_S = 3 * 24 * 3600   # subscription confirmation tokens are valid for 3 days
SNS_SMS_BYTES_MAX = 1600
SNS_HTTP_TIMEOUT_S = 15                   # an HTTP/S endpoint must answer within ~15 s
SNS_HTTP_RETRIES_DEFAULT = 3              # default HTTP/S policy: 3 retries, 20 s apart, linear
SNS_HTTP_DELAY_DEFAULT_S = 20
SNS_HTTP_RETRIES_MAX = 100
SNS_HTTP_DELAY_MAX_S = 3600
SNS_HTTP_RETRY_TOTAL_MAX_S = 3600         # total policy retry time, hard limit
SNS_MANAGED_NO_DELAY_RETRIES = 3          # SQS/Lambda/Firehose: 3 immediate,
SNS_MANAGED_MIN_DELAY_RETRIES = 2         #   2 at 1 s,
SNS_MANAGED_BACKOFF_RETRIES = 10          #   10 backing off from 1 s to 20 s,
SNS_MANAGED_MAX_DELAY_RETRIES = 100_000   #   100,000 at 20 s (100,015 attempts over 23 days)
SNS_MANAGED_MIN_DELAY_S = 1
SNS_MANAGED_MAX_DELAY_S = 20
SNS_LAMBDA_ASYNC_RETRY_DELAYS_S = (60, 120)  # Lambda's own async-invoke retries of a failing handler
SNS_DELIVERY_WORKERS_MAX = 8              # worker threads per slow protocol lane (http, lambda, firehose)

# --- Firehose delivery guarantees, S3 keys (appended by the Firehose reliability work) ----------
FIREHOSE_S3_RETRY_DURATION_S = 24 * 3600   # S3 delivery is retried for up to 24 h (DirectPut retention)
FIREHOSE_S3_RETRY_INTERVAL_MAX_S = 5       # back-off 1, 2, 4 s, then every 5 s as AWS retries S3
FIREHOSE_HTTP_RETRY_INTERVAL_MAX_S = 30    # HTTP endpoint back-off cap
FIREHOSE_DP_RETRY_DURATION_DEFAULT_S = 300  # DynamicPartitioningConfiguration.RetryOptions default
FIREHOSE_PENDING_BUFFERS_MAX = 4           # sealed buffers awaiting delivery per stream; then puts get
                                           # ServiceUnavailableException (Kinesis sources stop reading)
FIREHOSE_CLOSE_DRAIN_S = 30.0              # wall seconds close/delete waits for deliveries before the
                                           # rest goes to the error output (FirehoseBackend.close_drain_s)
S3_BUCKET_NAME_MIN = 3
S3_BUCKET_NAME_MAX = 63
S3_KEY_MAX_BYTES = 1024                    # UTF-8 bytes of an object key
LOCAL_PATH_SEGMENT_MAX_BYTES = 255         # NAME_MAX of local filesystems: one key segment
SNS_JSON_DEPTH_MAX = 1000                 # JSON in string parameters: Jackson's StreamReadConstraints defaults
SNS_JSON_NUMBER_LENGTH_MAX = 1000
SNS_FILTER_NUMERIC_DECIMALS = 5           # filter policies compare numbers to five decimal places
SNS_NUMBER_DIGITS_MAX = 38                # Number message attributes: 38 significant digits,
SNS_NUMBER_EXPONENT_MIN = -128            #   magnitude from 10^-128
SNS_NUMBER_EXPONENT_MAX = 126             #   to 10^126
# --- SQS values inside strings (appended by the SQS work) ------------------------------------------
SQS_ATTRIBUTE_NAME_MAX = 256              # message attribute names and DataType labels
SQS_NUMBER_DIGITS_MAX = 38                # Number message attributes: 38 significant digits, 10^-128..10^+126
SQS_NUMBER_TEXT_MAX = 1024                # longest Number text parsed at all (longer is not a number SQS keeps)
SQS_MOVE_BATCH = 100                      # messages a move task takes from its source per step (engine batching)
KINESIS_HASH_KEY_PATTERN = r"0|([1-9]\d{0,38})"   # ExplicitHashKey, NewStartingHashKey
KINESIS_NEXT_TOKEN_TTL_S = 300            # ListShards/ListStreamConsumers NextTokens expire after 300 s
FIREHOSE_PARSE_THREADS_MAX = 8             # threads parsing one buffer's JSON (at most one per core)
FIREHOSE_PARSE_RUN_MIN_BYTES = 1 * MiB     # a buffer is split for parsing only into runs this large
FIREHOSE_GROUP_RUNS_MAX = 64               # a partition's rows as at most this many zero-copy slices, else a take
KINESIS_PUT_THREADS_MAX = 2               # native put_batch: threads hashing and appending one batch
KINESIS_PUT_PARALLEL_MIN_RECORDS = 65_536  # below this a second thread costs more than it saves
# --- wire: SigV4 verification (appended by the server-wire work) --------------------------------
SIGV4_CLOCK_SKEW_MAX_S = 15 * 60          # a signed request's date may differ from the server's by 15 min
SIGV4_PRESIGN_EXPIRES_MAX_S = 7 * 24 * 3600   # X-Amz-Expires of a presigned URL: at most 7 days
# --- Lambda: functions and event source mappings (appended by the lambda work, issue 15) -----------
LAMBDA_TIMEOUT_DEFAULT_S = 3              # CreateFunction Timeout default; max 900
LAMBDA_TIMEOUT_MAX_S = 900
LAMBDA_MEMORY_DEFAULT_MB = 128
LAMBDA_PAYLOAD_SYNC_MAX = 6 * MiB         # RequestResponse payload, and an event source mapping's batch
LAMBDA_PAYLOAD_ASYNC_MAX = 256 * KiB      # Event (asynchronous) invocation payload
LAMBDA_SQS_BATCH_DEFAULT = 10
LAMBDA_SQS_FIFO_BATCH_MAX = 10
LAMBDA_SQS_SMALL_BATCH_MAX = 10           # a larger SQS BatchSize needs MaximumBatchingWindowInSeconds >= 1
LAMBDA_SQS_CONCURRENCY_DEFAULT = 5        # pollers an SQS mapping starts with (AWS scales from 5)
LAMBDA_KINESIS_BATCH_DEFAULT = 100
LAMBDA_RECORD_AGE_MIN_S = 60              # MaximumRecordAgeInSeconds: -1 (infinite) or 60..604800
LAMBDA_POLL_INTERVAL_S = 0.05             # engine seconds between polls of an idle source
LAMBDA_RETRY_BACKOFF_S = 1.0              # engine seconds before a failed stream batch is retried, doubling
LAMBDA_RETRY_BACKOFF_MAX_S = 60.0
LAMBDA_LANE_BUFFER_RECORDS = 20_000       # records read ahead per shard lane before reading pauses
LAMBDA_ASYNC_WORKERS = 4                  # threads running Event (asynchronous) invocations
LAMBDA_CLOSE_DRAIN_S = 30.0               # wall seconds close waits for in-flight invocations
LAMBDA_LIST_PAGE_DEFAULT = 100            # ListEventSourceMappings MaxItems default
LAMBDA_SQS_CONCURRENCY_MAX = 1000         # ScalingConfig.MaximumConcurrency upper bound
LAMBDA_STREAM_WORKERS_MAX = 64            # invocation threads of one stream mapping (lanes beyond wait)
LAMBDA_ASYNC_RETRY_DELAYS_S = (60, 120)   # Event invocations: Lambda retries a failure twice
KPL_AGGREGATE_MAX_BYTES = 1 * MiB          # an aggregated record with its partition key: one Kinesis record
FIREHOSE_SUB_RECORDS_MAX = 500            # RecordDeAggregation: sub-records per record at most
AGENT_BUFFER_AGE_DEFAULT_MS = 60_000      # Kinesis Agent flow maxBufferAgeMillis (1,000-900,000)
AGENT_BUFFER_AGE_MIN_MS = 1_000
AGENT_BUFFER_AGE_MAX_MS = 900_000
AGENT_BUFFER_BYTES_DEFAULT = 4 * MiB      # maxBufferSizeBytes (1-4 MiB)
AGENT_BUFFER_RECORDS_DEFAULT = 500        # maxBufferSizeRecords (1-500: a PutRecords / PutRecordBatch)
AGENT_FILE_POLL_DEFAULT_MS = 100          # minTimeBetweenFilePollsMillis
AGENT_KINESIS_RECORD_MAX = 1 * MiB        # longer records are truncated (data; Kinesis counts the key too)
AGENT_FIREHOSE_RECORD_MAX = 1000 * KiB
AGENT_RETRY_INITIAL_S = 0.1               # back-off before re-sending refused records, doubling
AGENT_RETRY_MAX_S = 10.0
AGENT_SHUTDOWN_TIMEOUT_S = 10.0           # stop() keeps retrying unsent records this long, then leaves them unacknowledged
AGENT_CHECKPOINT_INTERVAL_S = 1.0         # checkpoints written at most this often (and at stop)
AGENT_READ_BLOCK_BYTES = 16 * MiB         # a file is read this much at a time
AGENT_HEAD_BYTES = 1024                   # a file's first bytes identify its copies (copytruncate)
AGENT_KEY_POOL = 65_536                   # random partition keys drawn once and reused in turn
AGENT_NATIVE_BUFFERS_PER_CALL = 256       # in process, one native put takes this many full buffers (large puts use both cores)

# --- SNS mobile push, SMS, topic permissions (engine/sns/mobile.py, sms.py) ---
SNS_PLATFORM_APPLICATION_NAME_MAX = 256
SNS_APNS_TOKEN_HEX_MAX = 400              # Apple device tokens: hex, at most 400 characters
SNS_DEVICE_TOKEN_BYTES_MAX = 4096         # other platforms' registration ids (FCM's are ~163 characters)
SNS_CUSTOM_USER_DATA_BYTES_MAX = 2048     # endpoint CustomUserData: "less than 2KB" of UTF-8
SNS_SMS_SANDBOX_NUMBERS_MAX = 10          # destination numbers an account in the SMS sandbox may verify
SNS_SMS_OTP_DIGITS = 6                    # the one-time password sent to a sandbox number
SNS_SMS_OTP_TTL_S = 24 * 3600             # how long that password can be used
SNS_SMS_OPT_IN_INTERVAL_S = 30 * 24 * 3600   # a number can be opted back in once every 30 days
SNS_SMS_SENDER_ID_MAX = 11                # DefaultSenderID: 1-11 alphanumeric characters, one a letter
SNS_SMS_MONTHLY_SPEND_DEFAULT = 1         # USD: a new account's MonthlySpendLimit
SNS_SAMPLE_RATE_MAX = 100                 # *SampleRate / *SamplingRate attributes are percentages
SNS_PERMISSION_LABEL_MAX = 80             # AddPermission Label (a policy statement Sid)
# --- Amazon MQ (appended by the mq work) ---------------------------------------------------------
MQ_BROKER_NAME_MAX = 50                   # 1-50 letters, digits, dashes and underscores
MQ_CONFIGURATION_NAME_MAX = 150          # letters, digits, - . _ ~
MQ_USERNAME_MIN = 2                       # broker users: letters, digits, - . _ ~
MQ_USERNAME_MAX = 100
MQ_PASSWORD_MIN = 12                      # at least 12 characters, 4 of them unique, no , : =
MQ_PASSWORD_UNIQUE_MIN = 4
MQ_USERS_PER_BROKER_MAX = 250             # ActiveMQ brokers
MQ_GROUPS_PER_USER_MAX = 20
MQ_GROUP_NAME_MAX = 100
MQ_LIST_MAX_RESULTS_DEFAULT = 20          # ListBrokers/ListConfigurations/ListUsers without MaxResults
MQ_ENGINE_VERSIONS = {                    # DescribeBrokerEngineTypes; the first is the default
    "ACTIVEMQ": ("5.18", "5.17.6", "5.16.7", "5.15.16"),
    "RABBITMQ": ("3.13", "3.12.13", "3.11.28", "3.10.25"),
}
MQ_HOST_INSTANCE_TYPES = {                # DescribeBrokerInstanceOptions
    "ACTIVEMQ": ("mq.t2.micro", "mq.t3.micro", "mq.m4.large", "mq.m5.large", "mq.m5.xlarge",
                 "mq.m5.2xlarge", "mq.m5.4xlarge"),
    "RABBITMQ": ("mq.t3.micro", "mq.m5.large", "mq.m5.xlarge", "mq.m5.2xlarge", "mq.m5.4xlarge",
                 "mq.m7g.medium", "mq.m7g.large", "mq.m7g.xlarge"),
}
MQ_AVAILABILITY_ZONES = ("a", "b", "c")   # suffixes of the region's zones in instance options
MQ_BROKER_START_TIMEOUT_S = 120.0         # wall seconds a broker process gets to accept connections
MQ_BROKER_STOP_TIMEOUT_S = 20.0           # wall seconds between SIGTERM and SIGKILL
MQ_BROKER_POLL_S = 0.1                    # readiness probe interval while a broker starts
MQ_TLS_RSA_BITS = 2048                    # brokers' self-signed certificates (TLS endpoints)
MQ_TLS_CERT_DAYS = 365
MQ_ACTIVEMQ_JVM_OPTS = "-Xms64m -Xmx512m -XX:+UseSerialGC"   # the engine's JVMs stay small on a shared machine
SNS_ORIGINATION_NUMBERS_PAGE_MAX = 30     # ListOriginationNumbers MaxResults
# --- Kinesis: request defaults, account settings, policies (appended by the kinesis work, issues 11/16) ---
KINESIS_DESCRIBE_STREAM_DEFAULT = 100      # DescribeStream Limit default
KINESIS_LIST_STREAMS_DEFAULT = 100         # ListStreams Limit default
KINESIS_LIST_SHARDS_DEFAULT = 1000         # ListShards MaxResults default
KINESIS_LIST_CONSUMERS_DEFAULT = 100       # ListStreamConsumers MaxResults default
KINESIS_LIST_TAGS_DEFAULT = 50             # ListTagsForStream Limit default (and max)
KINESIS_SUBSCRIPTION_RETRY_S = 5           # a second SubscribeToShard for the same consumer and shard: ResourceInUse
KINESIS_SUBSCRIPTION_EVENT_WAIT_S = 5      # an idle subscription sends an empty event after 5 s
KINESIS_ON_DEMAND_STREAMS_MAX = 50         # on-demand streams per account (OnDemandStreamCountLimit)
KINESIS_MODE_SWITCHES_PER_WINDOW = 2       # capacity mode switches per stream ...
KINESIS_MODE_SWITCH_WINDOW_S = 24 * 3600   # ... within 24 hours
KINESIS_WARM_THROUGHPUT_MAX_MIBPS = 10240  # warm throughput of an on-demand stream: at most 10 GiBps
KINESIS_BILLING_COMMITMENT_MIN_S = 24 * 3600   # a minimum throughput billing commitment lasts at least 24 h
KINESIS_RESOURCE_POLICY_MAX_BYTES = 20 * KiB   # resource policy document size (IAM resource policy limit; unverified for Kinesis)
# --- Firehose -> Apache Iceberg (appended by the firehose work, issue 16) ---------------------------
FIREHOSE_ICEBERG_COMMIT_ATTEMPTS = 3      # fresh redos of a table write that lost its commit race (pyiceberg retries inside each)
SNS_AUDIT_SAMPLE_RATE_MAX = 99             # a data protection policy's Audit SampleRate: 0-99
FIREHOSE_PARSE_AHEAD_MIN_BYTES = 1 * MiB   # a buffered chunk this large is parsed (C pass) while it waits for its flush
