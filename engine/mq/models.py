"""Amazon MQ: brokers that are real RabbitMQ/ActiveMQ processes, their users, configurations
and revisions, tags; every rule of the service lives here (the client only translates).

Lifecycle as AWS reports it: a new broker is CREATION_IN_PROGRESS until its process accepts
connections, then RUNNING (or CREATION_FAILED with the reason in ActionsRequired, after at most
MQ_BROKER_START_TIMEOUT_S); a reboot is REBOOT_IN_PROGRESS and applies what is pending (the
configuration revision, ActiveMQ user changes, engine version and instance type), as AWS applies
them; a delete is DELETION_IN_PROGRESS until the processes are gone, then the broker is gone.
Processes start and stop on background threads: no call waits for a broker beyond what AWS makes
a caller wait for. close() stops every broker this backend started and removes its directory.
"""
from __future__ import annotations

import base64
import re
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .. import limits
from ..arn import arn as make_arn
from . import configurations
from .errors import BadRequestException, ConflictException, NotFoundException
from .processes import PROCESS_CLASSES, BrokerProcess, BrokerUser, MissingBrokerCommand

CREATION_IN_PROGRESS = "CREATION_IN_PROGRESS"
CREATION_FAILED = "CREATION_FAILED"
RUNNING = "RUNNING"
REBOOT_IN_PROGRESS = "REBOOT_IN_PROGRESS"
DELETION_IN_PROGRESS = "DELETION_IN_PROGRESS"
CRITICAL_ACTION_REQUIRED = "CRITICAL_ACTION_REQUIRED"

ENGINE_TYPES = ("ACTIVEMQ", "RABBITMQ")
DEPLOYMENT_MODES = {
    "ACTIVEMQ": ("SINGLE_INSTANCE", "ACTIVE_STANDBY_MULTI_AZ"),
    "RABBITMQ": ("SINGLE_INSTANCE", "CLUSTER_MULTI_AZ"),
}
STORAGE_TYPES = {"ACTIVEMQ": ("EFS", "EBS"), "RABBITMQ": ("EBS",)}   # first: the default
# An active/standby pair reports two instances; the engine runs one process for both (the
# standby takes over nothing, so a failover URL over both endpoints reaches the one broker).
INSTANCES_REPORTED = {"ACTIVE_STANDBY_MULTI_AZ": 2}

_BROKER_NAME = re.compile(r"[A-Za-z0-9_-]{1,%d}" % limits.MQ_BROKER_NAME_MAX)
_USERNAME = re.compile(r"[A-Za-z0-9._~-]{%d,%d}" % (limits.MQ_USERNAME_MIN, limits.MQ_USERNAME_MAX))
_CONFIGURATION_NAME = re.compile(r"[A-Za-z0-9._~-]{1,%d}" % limits.MQ_CONFIGURATION_NAME_MAX)
_PASSWORD_FORBIDDEN = set(",:=")
_START_FAILED_CODE = "BROKER_START_FAILED"


@dataclass
class PendingUser:
    change: str                     # CREATE | UPDATE | DELETE
    password: str | None = None
    console_access: bool = False
    groups: tuple[str, ...] = ()
    replication_user: bool = False


@dataclass
class User:
    username: str
    password: str
    console_access: bool = False
    groups: tuple[str, ...] = ()
    replication_user: bool = False
    applied: bool = True            # False until a reboot creates it on the broker
    pending: PendingUser | None = None


@dataclass
class Revision:
    number: int
    created: float
    description: str | None
    data: str


@dataclass
class Configuration:
    id: str
    arn: str
    name: str
    engine_type: str
    engine_version: str
    authentication_strategy: str
    created: float
    revisions: list[Revision] = field(default_factory=list)

    @property
    def latest(self) -> Revision:
        return self.revisions[-1]


@dataclass(frozen=True)
class ConfigurationRef:
    id: str
    revision: int


@dataclass
class BrokerOptions:
    """What create_broker/update_broker settle and describe_broker reports back as given."""
    host_instance_type: str
    publicly_accessible: bool
    auto_minor_version_upgrade: bool = False
    storage_type: str | None = None        # None: the engine's default (STORAGE_TYPES)
    encryption: dict | None = None          # {"UseAwsOwnedKey": bool, "KmsKeyId": str}
    logs: dict | None = None                # {"General": bool, "Audit": bool}
    maintenance_window: dict | None = None  # {"DayOfWeek", "TimeOfDay", "TimeZone"}
    security_groups: tuple[str, ...] = ()
    subnet_ids: tuple[str, ...] = ()


@dataclass
class Broker:
    id: str
    arn: str
    name: str
    engine_type: str
    engine_version: str
    deployment_mode: str
    authentication_strategy: str
    options: BrokerOptions
    created: float
    configuration: ConfigurationRef
    users: dict[str, User]
    state: str = CREATION_IN_PROGRESS
    failure_reason: str | None = None
    pending_configuration: ConfigurationRef | None = None
    configuration_history: list[ConfigurationRef] = field(default_factory=list)
    pending_engine_version: str | None = None
    pending_host_instance_type: str | None = None
    pending_security_groups: tuple[str, ...] | None = None
    process: BrokerProcess | None = None
    _worker: threading.Thread | None = None
    _cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def instance_count(self) -> int:
        return INSTANCES_REPORTED.get(self.deployment_mode, 1)

    @property
    def configuration_ids(self) -> set[str]:
        """The configurations this broker runs or will run after its next reboot."""
        return {ref.id for ref in (self.configuration, self.pending_configuration) if ref is not None}

    @property
    def has_instances(self) -> bool:
        """AWS lists a broker's instances once it has been created (not while or if creation fails)."""
        return self.state not in (CREATION_IN_PROGRESS, CREATION_FAILED)

    def endpoints(self) -> list[str]:
        return self.process.endpoints() if self.process is not None else []

    @property
    def listed_users(self) -> list["User"]:
        """What the Amazon MQ users API shows: ActiveMQ's users; RabbitMQ's live in RabbitMQ only."""
        return sorted(self.users.values(), key=lambda u: u.username) if self.engine_type == "ACTIVEMQ" else []

    @property
    def actions_required(self) -> list[tuple[str, str]]:
        """(code, reason) of a failed start, which the broker needs a delete or a reboot for."""
        failed = self.state in (CREATION_FAILED, CRITICAL_ACTION_REQUIRED) and self.failure_reason
        return [(_START_FAILED_CODE, self.failure_reason)] if failed else []

    @property
    def has_audit_log(self) -> bool:
        return self.engine_type == "ACTIVEMQ"

    def console_url(self) -> str | None:
        return self.process.console_url() if self.process is not None else None

    def pids(self) -> list[int]:
        """The live processes of this broker (empty once it is stopped)."""
        return self.process.pids() if self.process is not None else []


@dataclass(frozen=True)
class InstanceOption:
    engine_type: str
    host_instance_type: str
    storage_type: str
    zones: tuple[str, ...]
    deployment_modes: tuple[str, ...]
    engine_versions: tuple[str, ...]


@dataclass(frozen=True)
class UserSpec:
    username: str
    password: str
    console_access: bool = False
    groups: tuple[str, ...] = ()
    replication_user: bool = False


def page(items: list, max_results: int | None, token: str | None) -> tuple[list, str | None]:
    """One page of `items` and the token of the next (None after the last)."""
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii"))
        except (ValueError, UnicodeError):
            raise BadRequestException("The request's nextToken is not valid.", attribute="nextToken") from None
        if not 0 <= start <= len(items):
            raise BadRequestException("The request's nextToken is not valid.", attribute="nextToken")
    size = max_results or limits.MQ_LIST_MAX_RESULTS_DEFAULT
    end = start + size
    following = base64.urlsafe_b64encode(str(end).encode("ascii")).decode("ascii") if end < len(items) else None
    return items[start:end], following


class MQBackend:
    """One region's brokers and configurations."""

    def __init__(self, engine, region: str):
        self.engine = engine
        self.region = region
        self.account_id = engine.account_id
        self.brokers: dict[str, Broker] = {}
        self._broker_names: dict[str, str] = {}     # name -> id: names are unique per region
        self._config_users: dict[str, set[str]] = {}   # configuration id -> brokers using or pending it
        self.configurations: dict[str, Configuration] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.creator_requests: dict[str, str] = {}
        # Where each engine's command is, when not on PATH (None: the ENGINE_* variable, then PATH).
        self.commands: dict[str, str | None] = {"RABBITMQ": None, "ACTIVEMQ": None}
        self._root: Path | None = None
        self._lock = threading.RLock()
        self._closed = False

    # --- helpers -----------------------------------------------------------------------------
    def _now(self) -> float:
        return self.engine.clock.now()

    def _directory(self, broker_id: str) -> Path:
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="engine-mq-"))
            path = self._root / broker_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _reindex(self, broker: Broker, before: set[str], deleted: bool = False) -> None:
        """Keep _config_users in step after the broker's configurations changed."""
        after = set() if deleted else broker.configuration_ids
        for config_id in before - after:
            self._config_users.get(config_id, set()).discard(broker.id)
        for config_id in after - before:
            self._config_users.setdefault(config_id, set()).add(broker.id)

    def broker(self, broker_id: str) -> Broker:
        broker = self.brokers.get(broker_id)
        if broker is None:
            raise NotFoundException(f"Can't find requested broker [{broker_id}]. Make sure your broker exists.",
                                    attribute="broker-id")
        return broker

    def configuration(self, configuration_id: str) -> Configuration:
        config = self.configurations.get(configuration_id)
        if config is None:
            raise NotFoundException(f"Can't find requested configuration [{configuration_id}]. "
                                    "Make sure your configuration exists.", attribute="configuration-id")
        return config

    def _engine_version(self, engine_type: str, requested: str | None) -> str:
        versions = limits.MQ_ENGINE_VERSIONS[engine_type]
        if requested is None:
            return versions[0]
        if requested in versions or any(v.startswith(requested + ".") for v in versions):
            return requested
        raise BadRequestException(f"Broker engine version [{requested}] is not supported for engine type "
                                  f"[{engine_type}]. Supported versions: {', '.join(versions)}.",
                                  attribute="engineVersion")

    @staticmethod
    def _engine_type(engine_type: str) -> str:
        if engine_type not in ENGINE_TYPES:
            raise BadRequestException(f"Broker engine type [{engine_type}] is not supported. "
                                      f"Valid values: [{', '.join(ENGINE_TYPES)}].", attribute="engineType")
        return engine_type

    # --- brokers -----------------------------------------------------------------------------
    def create_broker(self, *, name: str, engine_type: str, deployment_mode: str, options: BrokerOptions,
                      users: list[UserSpec], engine_version: str | None = None,
                      configuration: ConfigurationRef | None = None, authentication_strategy: str | None = None,
                      tags: dict | None = None, creator_request_id: str | None = None,
                      data_replication_mode: str | None = None, ldap_server_metadata: dict | None = None,
                      data_replication_primary_broker_arn: str | None = None) -> Broker:
        engine_type = self._engine_type(engine_type)
        if creator_request_id is not None and creator_request_id in self.creator_requests:
            existing = self.brokers.get(self.creator_requests[creator_request_id])
            if existing is not None:
                return existing
        if not _BROKER_NAME.fullmatch(name):
            raise BadRequestException(f"Broker name [{name}] is not valid: use 1-{limits.MQ_BROKER_NAME_MAX} "
                                      "letters, digits, dashes and underscores.", attribute="brokerName")
        if deployment_mode not in DEPLOYMENT_MODES[engine_type]:
            raise BadRequestException(f"Deployment mode [{deployment_mode}] is not supported for engine type "
                                      f"[{engine_type}].", attribute="deploymentMode")
        self._check_instance_type(engine_type, options.host_instance_type)
        if options.storage_type is None:
            options.storage_type = STORAGE_TYPES[engine_type][0]
        if options.storage_type not in STORAGE_TYPES[engine_type]:
            raise BadRequestException(f"Storage type [{options.storage_type}] is not supported for engine type "
                                      f"[{engine_type}].", attribute="storageType")
        strategy = self._authentication(authentication_strategy, ldap_server_metadata)
        self._replication(data_replication_mode, data_replication_primary_broker_arn)
        version = self._engine_version(engine_type, engine_version)
        self._check_users(engine_type, users)
        process_class = PROCESS_CLASSES[engine_type]
        try:
            command = process_class.find_command(self.commands.get(engine_type))
        except MissingBrokerCommand as err:
            raise BadRequestException(str(err), attribute="engineType") from None
        with self._lock:
            if self._closed:
                raise BadRequestException("This engine is closed.")
            if name in self._broker_names:
                raise ConflictException(f"Broker name [{name}] already exists. Choose another name.",
                                        attribute="brokerName")
            if configuration is not None:
                config = self._configuration_for(engine_type, configuration)
                ref = ConfigurationRef(config.id, configuration.revision or config.latest.number)
            else:
                config = self.create_configuration(name=f"{name}-configuration", engine_type=engine_type,
                                                   engine_version=version, authentication_strategy=strategy)
                ref = ConfigurationRef(config.id, config.latest.number)
            broker_id = f"b-{uuid.uuid4()}"
            now = self._now()
            broker = Broker(
                id=broker_id, arn=make_arn("mq", self.region, self.account_id, f"broker:{name}:{broker_id}"),
                name=name, engine_type=engine_type, engine_version=version, deployment_mode=deployment_mode,
                authentication_strategy=strategy, options=options, created=now, configuration=ref,
                users={u.username: User(u.username, u.password, u.console_access, u.groups, u.replication_user)
                       for u in users},
            )
            broker.process = process_class(self._directory(broker_id), command, name)
            self.brokers[broker_id] = broker
            self._broker_names[name] = broker_id
            self._reindex(broker, set())
            self.tags[broker.arn] = dict(tags or {})
            if creator_request_id is not None:
                self.creator_requests[creator_request_id] = broker_id
            self._run(broker, self._start, broker)
        return broker

    def _check_instance_type(self, engine_type: str, instance_type: str) -> None:
        if instance_type not in limits.MQ_HOST_INSTANCE_TYPES[engine_type]:
            raise BadRequestException(f"Host instance type [{instance_type}] is not supported for engine type "
                                      f"[{engine_type}].", attribute="hostInstanceType")

    @staticmethod
    def _authentication(strategy: str | None, ldap_server_metadata: dict | None = None) -> str:
        if strategy in (None, "SIMPLE") and ldap_server_metadata is None:
            return "SIMPLE"
        raise BadRequestException(f"Authentication strategy [{strategy or 'LDAP'}] is not available in this "
                                  "engine: brokers authenticate their own users (SIMPLE).",
                                  attribute="authenticationStrategy")

    @staticmethod
    def _replication(mode: str | None, primary_broker_arn: str | None = None) -> None:
        if mode not in (None, "NONE") or primary_broker_arn is not None:
            raise BadRequestException("Cross-region data replication (CRDR) is not available in this engine.",
                                      attribute="dataReplicationMode")

    def _check_users(self, engine_type: str, users: list[UserSpec]) -> None:
        if not users:
            raise BadRequestException("A broker needs at least one user.", attribute="users")
        if engine_type == "RABBITMQ":
            if len(users) != 1:
                raise BadRequestException("A RabbitMQ broker is created with exactly one user; add more through "
                                          "the RabbitMQ management API.", attribute="users")
            if users[0].groups or users[0].console_access:
                raise BadRequestException("Groups and ConsoleAccess are not supported for RabbitMQ users.",
                                          attribute="users")
        if len(users) > limits.MQ_USERS_PER_BROKER_MAX:
            raise BadRequestException(f"A broker can have at most {limits.MQ_USERS_PER_BROKER_MAX} users.",
                                      attribute="users")
        seen = set()
        for user in users:
            if user.username in seen:
                raise BadRequestException(f"User [{user.username}] is given twice.", attribute="users")
            seen.add(user.username)
            self._check_user(user.username, user.password, user.groups, engine_type)

    @staticmethod
    def _check_user(username: str, password: str | None, groups: tuple[str, ...], engine_type: str) -> None:
        if not _USERNAME.fullmatch(username):
            raise BadRequestException(
                f"Username [{username}] is not valid: {limits.MQ_USERNAME_MIN}-{limits.MQ_USERNAME_MAX} letters, "
                "digits, dashes, periods, underscores and tildes.", attribute="username")
        if engine_type == "RABBITMQ" and username == "guest":
            raise BadRequestException("RabbitMQ brokers do not support the username guest.", attribute="username")
        if password is not None and (len(password) < limits.MQ_PASSWORD_MIN
                                     or len(set(password)) < limits.MQ_PASSWORD_UNIQUE_MIN
                                     or _PASSWORD_FORBIDDEN & set(password)):
            raise BadRequestException(
                f"Password is not valid: at least {limits.MQ_PASSWORD_MIN} characters, at least "
                f"{limits.MQ_PASSWORD_UNIQUE_MIN} of them unique, and no commas, colons or equal signs.",
                attribute="password")
        if len(groups) > limits.MQ_GROUPS_PER_USER_MAX or any(
                not 2 <= len(g) <= limits.MQ_GROUP_NAME_MAX for g in groups):
            raise BadRequestException(f"A user can have at most {limits.MQ_GROUPS_PER_USER_MAX} groups of "
                                      f"2-{limits.MQ_GROUP_NAME_MAX} characters.", attribute="groups")

    def _configuration_for(self, engine_type: str, ref: ConfigurationRef) -> Configuration:
        config = self.configuration(ref.id)
        if config.engine_type != engine_type:
            raise BadRequestException(f"Configuration [{ref.id}] is for {config.engine_type}, not {engine_type}.",
                                      attribute="configuration")
        if ref.revision and not 1 <= ref.revision <= len(config.revisions):
            raise NotFoundException(f"Can't find requested configuration revision [{ref.revision}] of "
                                    f"[{ref.id}].", attribute="configuration")
        return config

    def list_brokers(self) -> list[Broker]:
        return sorted(self.brokers.values(), key=lambda b: (b.created, b.id))

    def delete_broker(self, broker_id: str) -> Broker:
        with self._lock:
            broker = self.broker(broker_id)
            if broker.state == DELETION_IN_PROGRESS:
                return broker
            broker.state = DELETION_IN_PROGRESS
            broker._cancel.set()
            self._run(broker, self._delete, broker)
        return broker

    def reboot_broker(self, broker_id: str) -> Broker:
        with self._lock:
            broker = self.broker(broker_id)
            if broker.state not in (RUNNING, CRITICAL_ACTION_REQUIRED):
                raise BadRequestException(f"Broker [{broker_id}] is in state [{broker.state}]; only a RUNNING "
                                          "broker can be rebooted.", attribute="broker-id")
            broker.state = REBOOT_IN_PROGRESS
            self._apply_pending(broker)
            self._run(broker, self._reboot, broker)
        return broker

    def update_broker(self, broker_id: str, *, configuration: ConfigurationRef | None = None,
                      engine_version: str | None = None, host_instance_type: str | None = None,
                      auto_minor_version_upgrade: bool | None = None, logs: dict | None = None,
                      maintenance_window: dict | None = None, security_groups: tuple[str, ...] | None = None,
                      authentication_strategy: str | None = None, data_replication_mode: str | None = None,
                      ldap_server_metadata: dict | None = None) -> Broker:
        """Changes that need the broker's restart are pending until the next reboot, as on AWS."""
        with self._lock:
            broker = self.broker(broker_id)
            if broker.state == DELETION_IN_PROGRESS:
                raise ConflictException(f"Broker [{broker_id}] is being deleted.", attribute="broker-id")
            if authentication_strategy is not None or ldap_server_metadata is not None:
                self._authentication(authentication_strategy, ldap_server_metadata)
            self._replication(data_replication_mode)
            if configuration is not None:
                config = self._configuration_for(broker.engine_type, configuration)
                before = broker.configuration_ids
                broker.pending_configuration = ConfigurationRef(config.id,
                                                                configuration.revision or config.latest.number)
                self._reindex(broker, before)
            if engine_version is not None:
                broker.pending_engine_version = self._engine_version(broker.engine_type, engine_version)
            if host_instance_type is not None:
                self._check_instance_type(broker.engine_type, host_instance_type)
                broker.pending_host_instance_type = host_instance_type
            if security_groups is not None:
                broker.pending_security_groups = security_groups
            if auto_minor_version_upgrade is not None:
                broker.options.auto_minor_version_upgrade = auto_minor_version_upgrade
            if logs is not None:
                broker.options.logs = logs
            if maintenance_window is not None:
                broker.options.maintenance_window = maintenance_window
        return broker

    def promote(self, broker_id: str, mode: str) -> Broker:
        broker = self.broker(broker_id)
        raise BadRequestException(f"Broker [{broker.id}] is not part of a data replication pair; there is "
                                  f"nothing to {mode.lower()}.", attribute="broker-id")

    def _apply_pending(self, broker: Broker) -> None:
        if broker.pending_configuration is not None:
            before = broker.configuration_ids
            broker.configuration_history.append(broker.configuration)
            broker.configuration, broker.pending_configuration = broker.pending_configuration, None
            self._reindex(broker, before)
        if broker.pending_engine_version is not None:
            broker.engine_version, broker.pending_engine_version = broker.pending_engine_version, None
        if broker.pending_host_instance_type is not None:
            broker.options.host_instance_type, broker.pending_host_instance_type = \
                broker.pending_host_instance_type, None
        if broker.pending_security_groups is not None:
            broker.options.security_groups, broker.pending_security_groups = broker.pending_security_groups, None
        for name, user in list(broker.users.items()):
            change = user.pending
            if change is None:
                continue
            if change.change == "DELETE":
                del broker.users[name]
                continue
            user.password = change.password or user.password
            user.console_access, user.groups = change.console_access, change.groups
            user.replication_user = change.replication_user
            user.applied, user.pending = True, None

    # --- background work ---------------------------------------------------------------------
    def _run(self, broker: Broker, work, *args) -> None:
        """Run `work` on a thread of its own once the broker's previous work is done."""
        previous = broker._worker

        def run():
            if previous is not None:
                previous.join()
            work(*args)

        broker._worker = threading.Thread(target=run, name=f"mq-{broker.id}", daemon=True)
        broker._worker.start()

    def _launch(self, broker: Broker) -> None:
        """Start the broker's process with what is applied; raise BrokerStartFailed if it won't."""
        config = self.configurations[broker.configuration.id]
        text = config.revisions[broker.configuration.revision - 1].data
        users = [BrokerUser(u.username, u.password, u.groups, u.console_access)
                 for u in broker.users.values() if u.applied]
        broker.process.start(users, text, broker._cancel)

    # The workers below end every start in a state AWS reports: whatever goes wrong (the broker's
    # own failure, a file we could not write) is the broker's failure reason, never a dead thread
    # that leaves it IN_PROGRESS for ever.
    def _start(self, broker: Broker) -> None:
        try:
            self._launch(broker)
        except Exception as err:
            broker.process.stop()
            self._settle(broker, CREATION_FAILED, str(err))
            return
        self._settle(broker, RUNNING)

    def _reboot(self, broker: Broker) -> None:
        broker.process.stop()
        try:
            self._launch(broker)
        except Exception as err:
            broker.process.stop()
            self._settle(broker, CRITICAL_ACTION_REQUIRED, str(err))
            return
        self._settle(broker, RUNNING)

    def _settle(self, broker: Broker, state: str, reason: str | None = None) -> None:
        with self._lock:
            if broker.state != DELETION_IN_PROGRESS:
                broker.state, broker.failure_reason = state, reason

    def _delete(self, broker: Broker) -> None:
        broker.process.stop()
        shutil.rmtree(broker.process.directory, ignore_errors=True)
        with self._lock:
            self.brokers.pop(broker.id, None)
            self._broker_names.pop(broker.name, None)
            self._reindex(broker, broker.configuration_ids, deleted=True)
            self.tags.pop(broker.arn, None)

    # --- users -------------------------------------------------------------------------------
    def _activemq_broker(self, broker_id: str) -> Broker:
        broker = self.broker(broker_id)
        if broker.engine_type == "RABBITMQ":
            raise BadRequestException("RabbitMQ broker users are managed through the RabbitMQ management API "
                                      "or web console, not the Amazon MQ users API.", attribute="broker-id")
        return broker

    def create_user(self, broker_id: str, spec: UserSpec) -> None:
        with self._lock:
            broker = self._activemq_broker(broker_id)
            self._check_user(spec.username, spec.password, spec.groups, broker.engine_type)
            if spec.username in broker.users:
                raise ConflictException(f"User [{spec.username}] already exists on broker [{broker_id}].",
                                        attribute="username")
            if len(broker.users) >= limits.MQ_USERS_PER_BROKER_MAX:
                raise BadRequestException(f"A broker can have at most {limits.MQ_USERS_PER_BROKER_MAX} users.",
                                          attribute="username")
            broker.users[spec.username] = User(
                spec.username, spec.password, spec.console_access, spec.groups, spec.replication_user, applied=False,
                pending=PendingUser("CREATE", spec.password, spec.console_access, spec.groups, spec.replication_user))

    def user(self, broker_id: str, username: str) -> User:
        broker = self._activemq_broker(broker_id)
        user = broker.users.get(username)
        if user is None:
            raise NotFoundException(f"Can't find requested user [{username}]. Make sure your user exists.",
                                    attribute="username")
        return user

    def update_user(self, broker_id: str, username: str, *, password: str | None = None,
                    console_access: bool | None = None, groups: tuple[str, ...] | None = None,
                    replication_user: bool | None = None) -> None:
        with self._lock:
            broker = self._activemq_broker(broker_id)
            user = self.user(broker_id, username)
            self._check_user(username, password, groups or (), broker.engine_type)
            base = user.pending or PendingUser("UPDATE", None, user.console_access, user.groups,
                                               user.replication_user)
            if base.change == "DELETE":
                base = PendingUser("UPDATE", None, user.console_access, user.groups, user.replication_user)
            user.pending = PendingUser(
                base.change, password if password is not None else base.password,
                console_access if console_access is not None else base.console_access,
                groups if groups is not None else base.groups,
                replication_user if replication_user is not None else base.replication_user)

    def delete_user(self, broker_id: str, username: str) -> None:
        with self._lock:
            broker = self._activemq_broker(broker_id)
            user = self.user(broker_id, username)
            if not user.applied:
                del broker.users[username]      # never reached the broker: nothing to undo there
            else:
                user.pending = PendingUser("DELETE", None, user.console_access, user.groups, user.replication_user)

    def list_users(self, broker_id: str) -> list[User]:
        broker = self._activemq_broker(broker_id)
        return sorted(broker.users.values(), key=lambda u: u.username)

    # --- configurations ----------------------------------------------------------------------
    def create_configuration(self, *, name: str, engine_type: str, engine_version: str | None = None,
                             authentication_strategy: str | None = None, tags: dict | None = None) -> Configuration:
        engine_type = self._engine_type(engine_type)
        if not _CONFIGURATION_NAME.fullmatch(name):
            raise BadRequestException(f"Configuration name [{name}] is not valid.", attribute="name")
        version = self._engine_version(engine_type, engine_version)
        strategy = self._authentication(authentication_strategy)
        config_id = f"c-{uuid.uuid4()}"
        now = self._now()
        config = Configuration(
            id=config_id, arn=make_arn("mq", self.region, self.account_id, f"configuration:{config_id}"),
            name=name, engine_type=engine_type, engine_version=version, authentication_strategy=strategy,
            created=now, revisions=[Revision(1, now, "Auto-generated default for " + name + " on " + engine_type,
                                             configurations.DEFAULTS[engine_type])])
        with self._lock:
            self.configurations[config_id] = config
            self.tags[config.arn] = dict(tags or {})
        return config

    def update_configuration(self, configuration_id: str, data: str, description: str | None = None
                             ) -> tuple[Configuration, list[configurations.SanitizationWarning]]:
        with self._lock:
            config = self.configuration(configuration_id)
            try:
                stored, warnings = configurations.sanitize(config.engine_type, data)
            except configurations.InvalidConfiguration as err:
                raise BadRequestException(str(err), attribute="data") from None
            config.revisions.append(Revision(len(config.revisions) + 1, self._now(), description, stored))
        return config, warnings

    def revision(self, configuration_id: str, number: str | int) -> Revision:
        config = self.configuration(configuration_id)
        try:
            index = int(number)
        except ValueError:
            index = 0
        if not 1 <= index <= len(config.revisions):
            raise NotFoundException(f"Can't find requested configuration revision [{number}] of "
                                    f"[{configuration_id}].", attribute="configuration-revision")
        return config.revisions[index - 1]

    def list_configurations(self) -> list[Configuration]:
        return sorted(self.configurations.values(), key=lambda c: (c.created, c.id))

    def delete_configuration(self, configuration_id: str) -> None:
        with self._lock:
            config = self.configuration(configuration_id)
            users = self._config_users.get(config.id)
            if users:
                raise ConflictException(f"Configuration [{configuration_id}] is in use by broker "
                                        f"[{min(users)}].", attribute="configuration-id")
            self._config_users.pop(config.id, None)
            del self.configurations[configuration_id]
            self.tags.pop(config.arn, None)

    # --- tags --------------------------------------------------------------------------------
    def _tags_of(self, resource_arn: str) -> dict[str, str]:
        tags = self.tags.get(resource_arn)
        if tags is None:
            raise NotFoundException(f"Can't find requested resource [{resource_arn}].", attribute="resource-arn")
        return tags

    def tag_resource(self, resource_arn: str, tags: dict[str, str]) -> None:
        with self._lock:
            self._tags_of(resource_arn).update(tags)

    def untag_resource(self, resource_arn: str, keys: list[str]) -> None:
        with self._lock:
            tags = self._tags_of(resource_arn)
            for key in keys:
                tags.pop(key, None)

    def list_tags(self, resource_arn: str) -> dict[str, str]:
        return dict(self._tags_of(resource_arn))

    # --- what the service offers -------------------------------------------------------------
    @staticmethod
    def engine_versions(engine_type: str | None = None) -> dict[str, tuple[str, ...]]:
        return {t: limits.MQ_ENGINE_VERSIONS[t] for t in ENGINE_TYPES if engine_type in (None, t)}

    def instance_options(self, engine_type: str | None = None, host_instance_type: str | None = None,
                         storage_type: str | None = None) -> list[InstanceOption]:
        """Each (engine, instance type, storage type) AWS offers here, matching the filters."""
        options = []
        for engine in ENGINE_TYPES:
            if engine_type not in (None, engine):
                continue
            for instance in limits.MQ_HOST_INSTANCE_TYPES[engine]:
                if host_instance_type not in (None, instance):
                    continue
                for storage in STORAGE_TYPES[engine]:
                    if storage_type not in (None, storage):
                        continue
                    options.append(InstanceOption(
                        engine, instance, storage, tuple(self.region + z for z in limits.MQ_AVAILABILITY_ZONES),
                        DEPLOYMENT_MODES[engine], limits.MQ_ENGINE_VERSIONS[engine]))
        return options

    # --- shutdown ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every broker's processes and remove the directory they ran in."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            brokers = list(self.brokers.values())
            for broker in brokers:
                broker._cancel.set()
                broker.state = DELETION_IN_PROGRESS
        stoppers = []
        for broker in brokers:
            worker = broker._worker

            def stop(worker=worker, process=broker.process):
                if worker is not None:
                    worker.join()
                process.stop()

            thread = threading.Thread(target=stop, name=f"mq-close-{broker.id}")
            thread.start()
            stoppers.append(thread)
        for thread in stoppers:
            thread.join()
        with self._lock:
            self.brokers.clear()
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
