"""The Kinesis Agent's JSON configuration (agent.json), for the options this agent shares with it.

Global: checkpointFile, kinesis.endpoint, firehose.endpoint, awsRegion (plus credentials the AWS
SDK reads from the environment). Per flow: filePattern, kinesisStream | deliveryStream,
initialPosition, maxBufferAgeMillis, maxBufferSizeBytes, maxBufferSizeRecords,
minTimeBetweenFilePollsMillis, multiLineStartPattern, skipHeaderLines, truncatedRecordTerminator,
partitionKeyOption, dataProcessingOptions. Options of the Java agent this one does not implement
(CloudWatch metrics, role assumption, ADDEC2METADATA, ...) are reported and ignored.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from .. import limits

START_OF_FILE, END_OF_FILE = "START_OF_FILE", "END_OF_FILE"
RANDOM, DETERMINISTIC = "RANDOM", "DETERMINISTIC"
GLOBAL_OPTIONS = {"checkpointFile", "kinesis.endpoint", "firehose.endpoint", "awsRegion", "flows"}
FLOW_OPTIONS = {"filePattern", "kinesisStream", "deliveryStream", "initialPosition", "maxBufferAgeMillis",
                "maxBufferSizeBytes", "maxBufferSizeRecords", "minTimeBetweenFilePollsMillis",
                "multiLineStartPattern", "skipHeaderLines", "truncatedRecordTerminator", "partitionKeyOption",
                "dataProcessingOptions"}
DEFAULT_CHECKPOINT_FILE = "agent-checkpoints.json"   # beside the configuration file


class ConfigError(ValueError):
    """A configuration the agent cannot run: one line for the user."""


@dataclass(frozen=True)
class FlowConfig:
    file_pattern: str
    kinesis_stream: str | None = None
    delivery_stream: str | None = None
    initial_position: str = END_OF_FILE
    max_buffer_age_ms: int = limits.AGENT_BUFFER_AGE_DEFAULT_MS
    max_buffer_bytes: int = limits.AGENT_BUFFER_BYTES_DEFAULT
    max_buffer_records: int = limits.AGENT_BUFFER_RECORDS_DEFAULT
    poll_ms: int = limits.AGENT_FILE_POLL_DEFAULT_MS
    multi_line_start: str | None = None
    skip_header_lines: int = 0
    truncated_terminator: bytes = b"\n"
    partition_key_option: str = RANDOM
    processing: tuple = ()           # the dataProcessingOptions, as given (dicts)

    @property
    def destination(self) -> str:
        return f"kinesis:{self.kinesis_stream}" if self.kinesis_stream else f"firehose:{self.delivery_stream}"

    @property
    def key(self) -> str:
        """Names this flow in the checkpoint file."""
        return f"{self.destination}:{self.file_pattern}"

    @property
    def record_max(self) -> int:
        return limits.AGENT_KINESIS_RECORD_MAX if self.kinesis_stream else limits.AGENT_FIREHOSE_RECORD_MAX


@dataclass(frozen=True)
class AgentConfig:
    flows: tuple
    checkpoint_file: str
    kinesis_endpoint: str | None = None
    firehose_endpoint: str | None = None
    region: str | None = None
    ignored: tuple = field(default=())    # options read but not implemented


def _int(flow: dict, name: str, default: int, lo: int, hi: int | None) -> int:
    value = flow.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        raise ConfigError(f"{name} must be an integer between {lo} and {hi if hi is not None else 'any'}: "
                          f"{value!r}")
    return value


def parse_flow(flow: dict, index: int) -> tuple[FlowConfig, list[str]]:
    if not isinstance(flow, dict) or not isinstance(flow.get("filePattern"), str):
        raise ConfigError(f"flows[{index}]: filePattern is required")
    stream, delivery = flow.get("kinesisStream"), flow.get("deliveryStream")
    if bool(stream) == bool(delivery):
        raise ConfigError(f"flows[{index}]: exactly one of kinesisStream and deliveryStream is required")
    position = flow.get("initialPosition", END_OF_FILE)
    if position not in (START_OF_FILE, END_OF_FILE):
        raise ConfigError(f"flows[{index}]: initialPosition must be START_OF_FILE or END_OF_FILE")
    key_option = flow.get("partitionKeyOption", RANDOM)
    if key_option not in (RANDOM, DETERMINISTIC):
        raise ConfigError(f"flows[{index}]: partitionKeyOption must be RANDOM or DETERMINISTIC")
    start = flow.get("multiLineStartPattern")
    if start is not None:
        try:
            re.compile(start)
        except re.error as err:
            raise ConfigError(f"flows[{index}]: multiLineStartPattern: {err}") from None
    options = flow.get("dataProcessingOptions", [])
    if not isinstance(options, list) or not all(isinstance(o, dict) and "optionName" in o for o in options):
        raise ConfigError(f"flows[{index}]: dataProcessingOptions must be a list of objects with an optionName")
    config = FlowConfig(
        file_pattern=os.path.expanduser(flow["filePattern"]), kinesis_stream=stream or None,
        delivery_stream=delivery or None, initial_position=position,
        max_buffer_age_ms=_int(flow, "maxBufferAgeMillis", limits.AGENT_BUFFER_AGE_DEFAULT_MS,
                               limits.AGENT_BUFFER_AGE_MIN_MS, limits.AGENT_BUFFER_AGE_MAX_MS),
        max_buffer_bytes=_int(flow, "maxBufferSizeBytes", limits.AGENT_BUFFER_BYTES_DEFAULT, 1,
                              limits.AGENT_BUFFER_BYTES_DEFAULT),
        max_buffer_records=_int(flow, "maxBufferSizeRecords", limits.AGENT_BUFFER_RECORDS_DEFAULT, 1,
                                limits.AGENT_BUFFER_RECORDS_DEFAULT),
        poll_ms=_int(flow, "minTimeBetweenFilePollsMillis", limits.AGENT_FILE_POLL_DEFAULT_MS, 1, None),
        multi_line_start=start, skip_header_lines=_int(flow, "skipHeaderLines", 0, 0, None),
        truncated_terminator=str(flow.get("truncatedRecordTerminator", "\n")).encode("utf-8"),
        partition_key_option=key_option, processing=tuple(options))
    return config, [f"flows[{index}].{name}" for name in sorted(set(flow) - FLOW_OPTIONS)]


def parse_config(document: dict, base_dir: str = ".") -> AgentConfig:
    if not isinstance(document, dict) or not isinstance(document.get("flows"), list) or not document["flows"]:
        raise ConfigError("the configuration needs a non-empty flows list")
    flows, ignored = [], sorted(set(document) - GLOBAL_OPTIONS)
    for i, flow in enumerate(document["flows"]):
        parsed, unknown = parse_flow(flow, i)
        flows.append(parsed)
        ignored.extend(unknown)
    checkpoint = document.get("checkpointFile") or os.path.join(base_dir, DEFAULT_CHECKPOINT_FILE)
    from .processing import build_chain   # fails early on a bad processing option
    for flow in flows:
        build_chain(flow.processing)
    return AgentConfig(tuple(flows), os.path.expanduser(checkpoint), document.get("kinesis.endpoint") or None,
                       document.get("firehose.endpoint") or None, document.get("awsRegion") or None, tuple(ignored))


def load_config(path: str) -> AgentConfig:
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except OSError as err:
        raise ConfigError(f"{path}: {err.strerror or err}") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not JSON: {err}") from None
    return parse_config(document, os.path.dirname(os.path.abspath(path)))
