"""A KCL record processor for the MultiLangDaemon (amazon_kclpy's v3 interface): appends each
record it is given to the file named by KCL_TEST_OUTPUT as one JSON line, checkpoints after every
batch, and checkpoints at a shard's end so the KCL moves on to its children."""
import json
import os

from amazon_kclpy import kcl
from amazon_kclpy.v3 import processor


class RecordProcessor(processor.RecordProcessorBase):
    def __init__(self, output_path: str):
        self.output_path = output_path
        self.shard_id = None

    def initialize(self, initialize_input):
        self.shard_id = initialize_input.shard_id
        self.write({"event": "initialize", "shard": self.shard_id,
                    "sequence": initialize_input.sequence_number})

    def process_records(self, process_records_input):
        for record in process_records_input.records:
            self.write({"event": "record", "shard": self.shard_id, "sequence": record.sequence_number,
                        "data": record.binary_data.decode()})
        if process_records_input.records:
            process_records_input.checkpointer.checkpoint()

    def lease_lost(self, lease_lost_input):
        self.write({"event": "lease_lost", "shard": self.shard_id})

    def shard_ended(self, shard_ended_input):
        shard_ended_input.checkpointer.checkpoint()
        self.write({"event": "shard_ended", "shard": self.shard_id})

    def shutdown_requested(self, shutdown_requested_input):
        shutdown_requested_input.checkpointer.checkpoint()
        self.write({"event": "shutdown_requested", "shard": self.shard_id})

    def write(self, entry: dict) -> None:
        # one append per line: several shard processors (processes) share the file
        with open(self.output_path, "a") as output:
            output.write(json.dumps(entry) + "\n")


if __name__ == "__main__":
    kcl.KCLProcess(RecordProcessor(os.environ["KCL_TEST_OUTPUT"])).run()
