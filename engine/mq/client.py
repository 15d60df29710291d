"""The boto3-shaped Amazon MQ client: `eng.client("mq")`.

The request layer (engine.client_base) checks each request against botocore's mq model before a
method runs; each method here only translates boto3 members into typed calls on
engine.mq.models (where the rules live) and the model's objects into the response shape boto3
returns (rest-json: a member AWS has nothing for is absent). Configuration data travels base64
encoded, as on the wire.
"""
from __future__ import annotations

import base64
import binascii
import datetime

from ..client_base import BaseClient
from . import errors
from .errors import BadRequestException
from .models import (Broker, BrokerOptions, Configuration,
                     ConfigurationRef, MQBackend, User, UserSpec, page)


def _ts(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)


def _decoded(data: str) -> str:
    try:
        return base64.b64decode(data.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise BadRequestException("The configuration data must be base64-encoded UTF-8 text.",
                                  attribute="data") from None


def _encoded(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _config_ref(value: dict | None) -> ConfigurationRef | None:
    return None if value is None else ConfigurationRef(value["Id"], value.get("Revision") or 0)


def _ref_dict(ref: ConfigurationRef) -> dict:
    return {"Id": ref.id, "Revision": ref.revision}


def _user_spec(user: dict) -> UserSpec:
    return UserSpec(user["Username"], user["Password"], user.get("ConsoleAccess", False),
                    tuple(user.get("Groups") or ()), user.get("ReplicationUser", False))


def _user_summary(user: User) -> dict:
    out = {"Username": user.username}
    if user.pending is not None:
        out["PendingChange"] = user.pending.change
    return out


def _configuration_dict(config: Configuration, tags: dict) -> dict:
    return {
        "Arn": config.arn, "AuthenticationStrategy": config.authentication_strategy,
        "Created": _ts(config.created), "Description": config.latest.description or "",
        "EngineType": config.engine_type, "EngineVersion": config.engine_version, "Id": config.id,
        "LatestRevision": _revision_dict(config.latest), "Name": config.name, "Tags": tags,
    }


def _revision_dict(revision) -> dict:
    out = {"Created": _ts(revision.created), "Revision": revision.number}
    if revision.description is not None:
        out["Description"] = revision.description
    return out


def _logs(logs: dict | None) -> dict | None:
    return None if logs is None else {k: logs[k] for k in ("Audit", "General") if k in logs}


class MQClient(BaseClient):
    service_name = "mq"
    error_modules = (errors,)

    @property
    def _backend(self) -> MQBackend:
        return self._engine.backend("mq", self.meta.region_name)

    # --- brokers -------------------------------------------------------------------------------
    def create_broker(self, *, BrokerName, DeploymentMode, EngineType, HostInstanceType, PubliclyAccessible,
                      Users=None, AuthenticationStrategy=None, AutoMinorVersionUpgrade=None, Configuration=None,
                      CreatorRequestId=None, EncryptionOptions=None, EngineVersion=None, LdapServerMetadata=None,
                      Logs=None, MaintenanceWindowStartTime=None, SecurityGroups=None, StorageType=None,
                      SubnetIds=None, Tags=None, DataReplicationMode=None, DataReplicationPrimaryBrokerArn=None):
        options = BrokerOptions(
            host_instance_type=HostInstanceType, publicly_accessible=PubliclyAccessible,
            auto_minor_version_upgrade=bool(AutoMinorVersionUpgrade), storage_type=StorageType,
            encryption=EncryptionOptions, logs=Logs, maintenance_window=MaintenanceWindowStartTime,
            security_groups=tuple(SecurityGroups or ()), subnet_ids=tuple(SubnetIds or ()))
        broker = self._backend.create_broker(
            name=BrokerName, engine_type=EngineType, deployment_mode=DeploymentMode, options=options,
            users=[_user_spec(u) for u in Users or ()], engine_version=EngineVersion,
            configuration=_config_ref(Configuration), authentication_strategy=AuthenticationStrategy,
            tags=Tags, creator_request_id=CreatorRequestId, data_replication_mode=DataReplicationMode,
            ldap_server_metadata=LdapServerMetadata, data_replication_primary_broker_arn=DataReplicationPrimaryBrokerArn)
        return {"BrokerArn": broker.arn, "BrokerId": broker.id}

    def describe_broker(self, *, BrokerId):
        backend = self._backend
        b = backend.broker(BrokerId)
        o = b.options
        instances = []
        if b.has_instances:
            endpoints = b.endpoints()
            for _ in range(b.instance_count):
                instance = {"Endpoints": list(endpoints), "IpAddress": "127.0.0.1"}
                console = b.console_url()
                if console is not None:
                    instance["ConsoleURL"] = console
                instances.append(instance)
        configurations = {"Current": _ref_dict(b.configuration),
                          "History": [_ref_dict(ref) for ref in b.configuration_history]}
        if b.pending_configuration is not None:
            configurations["Pending"] = _ref_dict(b.pending_configuration)
        out = {
            "ActionsRequired": [{"ActionRequiredCode": code, "ActionRequiredInfo": info}
                                for code, info in b.actions_required],
            "AuthenticationStrategy": b.authentication_strategy,
            "AutoMinorVersionUpgrade": o.auto_minor_version_upgrade, "BrokerArn": b.arn, "BrokerId": b.id,
            "BrokerInstances": instances, "BrokerName": b.name, "BrokerState": b.state,
            "Configurations": configurations, "Created": _ts(b.created), "DeploymentMode": b.deployment_mode,
            "EncryptionOptions": o.encryption or {"UseAwsOwnedKey": True},
            "EngineType": b.engine_type, "EngineVersion": b.engine_version,
            "HostInstanceType": o.host_instance_type,
            "Logs": {"General": bool((o.logs or {}).get("General")),
                     "GeneralLogGroup": f"/aws/amazonmq/broker/{b.id}/general",
                     **({"Audit": bool(o.logs.get("Audit")),
                         "AuditLogGroup": f"/aws/amazonmq/broker/{b.id}/audit"}
                        if b.has_audit_log and o.logs else {})},
            "PubliclyAccessible": o.publicly_accessible, "SecurityGroups": list(o.security_groups),
            "StorageType": o.storage_type, "SubnetIds": list(o.subnet_ids),
            "Tags": backend.list_tags(b.arn),
            "Users": [_user_summary(u) for u in b.listed_users],
            "DataReplicationMode": "NONE",
        }
        if o.maintenance_window is not None:
            out["MaintenanceWindowStartTime"] = o.maintenance_window
        if b.pending_engine_version is not None:
            out["PendingEngineVersion"] = b.pending_engine_version
        if b.pending_host_instance_type is not None:
            out["PendingHostInstanceType"] = b.pending_host_instance_type
        if b.pending_security_groups is not None:
            out["PendingSecurityGroups"] = list(b.pending_security_groups)
        return out

    def list_brokers(self, *, MaxResults=None, NextToken=None):
        brokers, following = page(self._backend.list_brokers(), MaxResults, NextToken)
        out = {"BrokerSummaries": [_broker_summary(b) for b in brokers]}
        if following is not None:
            out["NextToken"] = following
        return out

    def delete_broker(self, *, BrokerId):
        return {"BrokerId": self._backend.delete_broker(BrokerId).id}

    def reboot_broker(self, *, BrokerId):
        self._backend.reboot_broker(BrokerId)
        return {}

    def update_broker(self, *, BrokerId, AuthenticationStrategy=None, AutoMinorVersionUpgrade=None,
                      Configuration=None, EngineVersion=None, HostInstanceType=None, LdapServerMetadata=None,
                      Logs=None, MaintenanceWindowStartTime=None, SecurityGroups=None, DataReplicationMode=None):
        b = self._backend.update_broker(
            BrokerId, configuration=_config_ref(Configuration), engine_version=EngineVersion,
            host_instance_type=HostInstanceType, auto_minor_version_upgrade=AutoMinorVersionUpgrade,
            logs=_logs(Logs), maintenance_window=MaintenanceWindowStartTime,
            security_groups=None if SecurityGroups is None else tuple(SecurityGroups),
            authentication_strategy=AuthenticationStrategy, data_replication_mode=DataReplicationMode,
            ldap_server_metadata=LdapServerMetadata)
        out = {"AuthenticationStrategy": b.authentication_strategy,
               "AutoMinorVersionUpgrade": b.options.auto_minor_version_upgrade, "BrokerId": b.id,
               "EngineVersion": b.pending_engine_version or b.engine_version,
               "HostInstanceType": b.pending_host_instance_type or b.options.host_instance_type,
               "SecurityGroups": list(b.pending_security_groups or b.options.security_groups),
               "DataReplicationMode": "NONE"}
        if Configuration is not None:
            out["Configuration"] = _ref_dict(b.pending_configuration)
        if Logs is not None:
            out["Logs"] = _logs(b.options.logs)
        if b.options.maintenance_window is not None:
            out["MaintenanceWindowStartTime"] = b.options.maintenance_window
        return out

    def promote(self, *, BrokerId, Mode):
        return {"BrokerId": self._backend.promote(BrokerId, Mode).id}

    # --- users ---------------------------------------------------------------------------------
    def create_user(self, *, BrokerId, Username, Password, ConsoleAccess=None, Groups=None, ReplicationUser=None):
        self._backend.create_user(BrokerId, UserSpec(Username, Password, bool(ConsoleAccess), tuple(Groups or ()),
                                                     bool(ReplicationUser)))
        return {}

    def describe_user(self, *, BrokerId, Username):
        user = self._backend.user(BrokerId, Username)
        out = {"BrokerId": BrokerId, "Username": user.username, "ReplicationUser": user.replication_user}
        if user.applied:
            out["ConsoleAccess"] = user.console_access
            out["Groups"] = list(user.groups)
        if user.pending is not None:
            out["Pending"] = {"ConsoleAccess": user.pending.console_access, "Groups": list(user.pending.groups),
                              "PendingChange": user.pending.change}
        return out

    def update_user(self, *, BrokerId, Username, ConsoleAccess=None, Groups=None, Password=None,
                    ReplicationUser=None):
        self._backend.update_user(BrokerId, Username, password=Password, console_access=ConsoleAccess,
                                  groups=None if Groups is None else tuple(Groups), replication_user=ReplicationUser)
        return {}

    def delete_user(self, *, BrokerId, Username):
        self._backend.delete_user(BrokerId, Username)
        return {}

    def list_users(self, *, BrokerId, MaxResults=None, NextToken=None):
        users, following = page(self._backend.list_users(BrokerId), MaxResults, NextToken)
        out = {"BrokerId": BrokerId, "MaxResults": MaxResults or len(users),
               "Users": [_user_summary(u) for u in users]}
        if following is not None:
            out["NextToken"] = following
        return out

    # --- configurations ------------------------------------------------------------------------
    def create_configuration(self, *, EngineType, Name, AuthenticationStrategy=None, EngineVersion=None, Tags=None):
        config = self._backend.create_configuration(name=Name, engine_type=EngineType, engine_version=EngineVersion,
                                                    authentication_strategy=AuthenticationStrategy, tags=Tags)
        return {"Arn": config.arn, "AuthenticationStrategy": config.authentication_strategy,
                "Created": _ts(config.created), "Id": config.id,
                "LatestRevision": _revision_dict(config.latest), "Name": config.name}

    def describe_configuration(self, *, ConfigurationId):
        backend = self._backend
        config = backend.configuration(ConfigurationId)
        return _configuration_dict(config, backend.list_tags(config.arn))

    def list_configurations(self, *, MaxResults=None, NextToken=None):
        backend = self._backend
        configs, following = page(backend.list_configurations(), MaxResults, NextToken)
        out = {"Configurations": [_configuration_dict(c, backend.list_tags(c.arn)) for c in configs],
               "MaxResults": MaxResults or len(configs)}
        if following is not None:
            out["NextToken"] = following
        return out

    def update_configuration(self, *, ConfigurationId, Data, Description=None):
        config, warnings = self._backend.update_configuration(ConfigurationId, _decoded(Data), Description)
        return {"Arn": config.arn, "Created": _ts(config.created), "Id": config.id,
                "LatestRevision": _revision_dict(config.latest), "Name": config.name,
                "Warnings": [{"ElementName": w.element, "Reason": w.reason,
                              **({"AttributeName": w.attribute} if w.attribute else {})} for w in warnings]}

    def describe_configuration_revision(self, *, ConfigurationId, ConfigurationRevision):
        revision = self._backend.revision(ConfigurationId, ConfigurationRevision)
        out = {"ConfigurationId": ConfigurationId, "Created": _ts(revision.created), "Data": _encoded(revision.data)}
        if revision.description is not None:
            out["Description"] = revision.description
        return out

    def list_configuration_revisions(self, *, ConfigurationId, MaxResults=None, NextToken=None):
        config = self._backend.configuration(ConfigurationId)
        revisions, following = page(config.revisions, MaxResults, NextToken)
        out = {"ConfigurationId": config.id, "MaxResults": MaxResults or len(revisions),
               "Revisions": [_revision_dict(r) for r in revisions]}
        if following is not None:
            out["NextToken"] = following
        return out

    def delete_configuration(self, *, ConfigurationId):
        self._backend.delete_configuration(ConfigurationId)
        return {"ConfigurationId": ConfigurationId}

    # --- tags ----------------------------------------------------------------------------------
    def create_tags(self, *, ResourceArn, Tags=None):
        self._backend.tag_resource(ResourceArn, Tags or {})
        return {}

    def delete_tags(self, *, ResourceArn, TagKeys):
        self._backend.untag_resource(ResourceArn, list(TagKeys))
        return {}

    def list_tags(self, *, ResourceArn):
        return {"Tags": self._backend.list_tags(ResourceArn)}

    # --- what the service offers ---------------------------------------------------------------
    def describe_broker_engine_types(self, *, EngineType=None, MaxResults=None, NextToken=None):
        types = list(self._backend.engine_versions(EngineType).items())
        shown, following = page(types, MaxResults, NextToken)
        out = {"BrokerEngineTypes": [{"EngineType": t, "EngineVersions": [{"Name": v} for v in versions]}
                                     for t, versions in shown],
               "MaxResults": MaxResults or len(shown)}
        if following is not None:
            out["NextToken"] = following
        return out

    def describe_broker_instance_options(self, *, EngineType=None, HostInstanceType=None, MaxResults=None,
                                         NextToken=None, StorageType=None):
        options, following = page(self._backend.instance_options(EngineType, HostInstanceType, StorageType),
                                  MaxResults, NextToken)
        out = {"BrokerInstanceOptions": [{
            "AvailabilityZones": [{"Name": z} for z in o.zones], "EngineType": o.engine_type,
            "HostInstanceType": o.host_instance_type, "StorageType": o.storage_type,
            "SupportedDeploymentModes": list(o.deployment_modes),
            "SupportedEngineVersions": list(o.engine_versions)} for o in options],
            "MaxResults": MaxResults or len(options)}
        if following is not None:
            out["NextToken"] = following
        return out


def _broker_summary(b: Broker) -> dict:
    return {"BrokerArn": b.arn, "BrokerId": b.id, "BrokerName": b.name, "BrokerState": b.state,
            "Created": _ts(b.created), "DeploymentMode": b.deployment_mode, "EngineType": b.engine_type,
            "HostInstanceType": b.options.host_instance_type}
