"""Broker configuration texts: the defaults AWS gives a new configuration, and the checks and
sanitisation AWS applies to a new revision (ActiveMQ XML; RabbitMQ cuttlefish lines).

Amazon MQ keeps only permitted elements of an ActiveMQ configuration: a revision's disallowed
<broker> children are removed and reported as warnings (SanitizationWarning), malformed XML is
refused. The transport connectors and the store are the engine's to set, as AWS's are AWS's.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from .processes import ACTIVEMQ_NS

ACTIVEMQ_DEFAULT = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<broker xmlns="{ACTIVEMQ_NS}">
  <destinationPolicy>
    <policyMap>
      <policyEntries>
        <policyEntry topic="&gt;">
          <pendingMessageLimitStrategy>
            <constantPendingMessageLimitStrategy limit="3000"/>
          </pendingMessageLimitStrategy>
        </policyEntry>
      </policyEntries>
    </policyMap>
  </destinationPolicy>
  <plugins>
  </plugins>
</broker>
"""

RABBITMQ_DEFAULT = """# Default RabbitMQ delivery acknowledgement timeout is 30 minutes in milliseconds
consumer_timeout = 1800000
"""

DEFAULTS = {"ACTIVEMQ": ACTIVEMQ_DEFAULT, "RABBITMQ": RABBITMQ_DEFAULT}

# <broker> children a configuration may hold (Amazon MQ's permitted collections).
ACTIVEMQ_PERMITTED_CHILDREN = frozenset({
    "destinationInterceptors", "destinationPolicy", "destinations", "networkConnectors",
    "persistenceAdapter", "plugins", "systemUsage", "transportConnectors",
})


class InvalidConfiguration(ValueError):
    """The revision's data cannot be a configuration of its engine."""


@dataclass(frozen=True)
class SanitizationWarning:
    element: str
    reason: str = "DISALLOWED_ELEMENT_REMOVED"
    attribute: str | None = None


def sanitize(engine_type: str, text: str) -> tuple[str, list[SanitizationWarning]]:
    """The revision as stored, and what was removed from it."""
    if engine_type == "RABBITMQ":
        return text, []
    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as err:
        raise InvalidConfiguration(f"The configuration is not well-formed XML: {err}.") from None
    if root.tag != f"{{{ACTIVEMQ_NS}}}broker":
        raise InvalidConfiguration(f"The root element must be <broker xmlns=\"{ACTIVEMQ_NS}\">.")
    warnings = []
    for child in list(root):
        name = child.tag.rsplit("}", 1)[-1] if isinstance(child.tag, str) else None
        if name is not None and name not in ACTIVEMQ_PERMITTED_CHILDREN:
            root.remove(child)
            warnings.append(SanitizationWarning(element=name))
    if not warnings:
        return text, []
    ET.register_namespace("", ACTIVEMQ_NS)
    return ET.tostring(root, encoding="unicode"), warnings
