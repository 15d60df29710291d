"""A Kinesis Agent: tails log files and sends their records to Kinesis or Firehose
(`python -m engine agent CONFIG`, or Agent in process)."""
from .agent import Agent
from .config import AgentConfig, ConfigError, FlowConfig, load_config, parse_config

__all__ = ["Agent", "AgentConfig", "ConfigError", "FlowConfig", "load_config", "parse_config"]
