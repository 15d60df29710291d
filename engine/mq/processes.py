"""Real broker processes: RabbitMQ (Erlang) and ActiveMQ (Java) started from Debian's packages.

Each broker instance runs in its own directory (config, data, logs, TLS certificate) on loopback
ports of its own, in a session of its own, so that stopping it ends every process it started
(the JVM under ActiveMQ's shell script; beam, its helpers and a private epmd for RabbitMQ) and
nothing else, and on a leash (_LEASH) that ends it when the engine's process is gone.
Nothing here knows the mq API: the model hands over users and the configuration text, and
asks for start (blocking until the broker accepts connections, or BrokerStartFailed), stop,
endpoints and pids.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from .. import limits

ACTIVEMQ_NS = "http://activemq.apache.org/schema/core"
_BEANS_NS = "http://www.springframework.org/schema/beans"
_LOG_READ_BYTES = 1 << 20      # of a failed broker's log, searched for its failure reason
_REASON_LINES = 8
_ERROR_LINE = re.compile(r"\[error\]| ERROR |Exception|BOOT FAILED")
_LOG_PREFIX = re.compile(r"^\S+ \S+ +(\[error\] <[^>]*> *|ERROR +)")


# Every broker command runs under this leash, in a session of its own: the command in the
# background (its exit status is the leash's), and beside it a reader of the engine's pipe that
# ends the whole session on EOF, i.e. once the engine's process is gone, however it died (kill -9
# too), so that no broker outlives the engine that started it.
_LEASH = 'exec 3<&0 </dev/null; "$@" 3<&- & server=$!; (read _ <&3; kill -TERM 0) & exec 3<&-; wait "$server"'


class BrokerStartFailed(Exception):
    """The broker process exited or never accepted connections; the message says why."""


class MissingBrokerCommand(Exception):
    """The broker's command is not installed; the message names the package."""


@dataclass(frozen=True)
class BrokerUser:
    username: str
    password: str
    groups: tuple[str, ...] = ()
    console_access: bool = False


@dataclass(frozen=True)
class TlsFiles:
    """A broker's self-signed server certificate: PEM files (RabbitMQ) and a PKCS#12 keystore (ActiveMQ)."""
    cert: Path
    key: Path
    keystore: Path
    keystore_password: str


def tls_files(directory: Path) -> TlsFiles:
    """The broker's certificate for 127.0.0.1/localhost, made on first use. RSA, because the
    cipher string AWS's own examples set for TLS clients ('ECDHE+AESGCM:!ECDSA') excludes ECDSA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    files = TlsFiles(directory / "tls-cert.pem", directory / "tls-key.pem", directory / "tls-keystore.p12",
                     "engine-keystore")
    if files.keystore.exists():
        return files
    key = rsa.generate_private_key(public_exponent=65537, key_size=limits.MQ_TLS_RSA_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=limits.MQ_TLS_CERT_DAYS))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    files.keystore.write_bytes(pkcs12.serialize_key_and_certificates(
        b"broker", key, cert, None, serialization.BestAvailableEncryption(files.keystore_password.encode())))
    return files


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago (held together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _session_pids(session_ids: set[int]) -> list[int]:
    """Every live process whose session is one of ours (Linux /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        if fields[0] != b"Z" and int(fields[3]) in session_ids:   # state, ppid, pgrp, session
            pids.append(int(entry))
    return pids


class BrokerProcess:
    """One broker instance's processes; subclasses know their engine's files and ports."""

    package = ""          # Debian package that installs the command
    env_override = ""     # environment variable naming the command's path instead of PATH
    default_command = ""  # the command looked up on PATH
    engine_label = ""
    port_names: tuple[str, ...] = ()

    def __init__(self, directory: Path, command: str, broker_name: str):
        self.directory = directory
        self.command = command
        self.broker_name = broker_name
        self.ports = dict(zip(self.port_names, free_ports(len(self.port_names))))
        self.log_path = directory / "broker.log"
        self._log_start = 0     # where this run's lines begin (a reboot appends to the same log)
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.Lock()

    @classmethod
    def find_command(cls, configured: str | None) -> str:
        path = configured or os.environ.get(cls.env_override) or shutil.which(cls.default_command)
        if not path or not os.access(path, os.X_OK):
            raise MissingBrokerCommand(
                f"{cls.engine_label} brokers run the real broker: install the Debian package {cls.package} "
                f"(apt-get install {cls.package}) or set {cls.env_override} to the path of {cls.default_command}.")
        return path

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self, users: list[BrokerUser], config: str, cancelled: threading.Event) -> None:
        """Write the configuration, start the broker, return once it accepts connections."""
        self.write_config(users, config)
        with open(self.log_path, "ab") as log, self._lock:
            self._log_start = log.tell()
            self._procs = [self._spawn(argv, env, log) for argv, env in self.commands()]
        server = self._procs[-1]
        deadline = time.monotonic() + limits.MQ_BROKER_START_TIMEOUT_S
        while not all(_accepts(port) for port in self.ready_ports()):
            if server.poll() is not None:
                raise BrokerStartFailed(f"the broker exited with status {server.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerStartFailed(f"the broker did not accept connections within "
                                        f"{limits.MQ_BROKER_START_TIMEOUT_S:.0f} s: {self.log_tail()}")
            if cancelled.wait(limits.MQ_BROKER_POLL_S):
                return

    def _spawn(self, argv, env, log) -> subprocess.Popen:
        return subprocess.Popen(["sh", "-c", _LEASH, "sh", *argv], env={**os.environ, **env}, cwd=self.directory,
                                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        """SIGTERM to every session we started (server first), SIGKILL after the grace period."""
        with self._lock:
            procs, self._procs = self._procs, []
        for proc in reversed(procs):
            sessions = {proc.pid}
            proc.stdin.close()
            self._signal(sessions, signal.SIGTERM)
            try:
                proc.wait(limits.MQ_BROKER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
            deadline = time.monotonic() + limits.MQ_BROKER_STOP_TIMEOUT_S
            while _session_pids(sessions) and time.monotonic() < deadline:
                time.sleep(limits.MQ_BROKER_POLL_S)
            self._signal(sessions, signal.SIGKILL)
            proc.wait()

    @staticmethod
    def _signal(sessions: set[int], sig: int) -> None:
        for pid in _session_pids(sessions):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def pids(self) -> list[int]:
        """Every live process this instance started (all of its sessions)."""
        with self._lock:
            sessions = {proc.pid for proc in self._procs}
        return _session_pids(sessions) if sessions else []

    @property
    def tls(self) -> TlsFiles:
        """The certificate the TLS endpoints present (a client that verifies trusts tls.cert)."""
        return tls_files(self.directory)

    def log_tail(self) -> str:
        """What the log says went wrong: its first error lines (the cause; later ones are the
        crash that follows), else its last lines."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_start)
                text = f.read(_LOG_READ_BYTES).decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        errors = [_LOG_PREFIX.sub("", line) for line in lines if _ERROR_LINE.search(line)]
        chosen = [line for line in errors if line][:_REASON_LINES] or lines[-_REASON_LINES:]
        return " | ".join(chosen)

    # --- per engine -----------------------------------------------------------------------------
    def write_config(self, users: list[BrokerUser], config: str) -> None:
        raise NotImplementedError

    def commands(self) -> list[tuple[list[str], dict]]:
        """(argv, environment) of each process to start, the broker server last."""
        raise NotImplementedError

    def ready_ports(self) -> list[int]:
        raise NotImplementedError

    def endpoints(self) -> list[str]:
        raise NotImplementedError

    def console_url(self) -> str | None:
        raise NotImplementedError


# --- RabbitMQ ----------------------------------------------------------------------------------
# Cuttlefish keys the engine sets itself: a configuration's own value for them is dropped.
RABBITMQ_ENGINE_KEYS = ("listeners.", "ssl_options.", "management.tcp.", "management.listener.", "load_definitions",
                        "loopback_users", "default_user", "default_pass", "default_vhost", "log.")


def rabbitmq_password_hash(password: str, salt: bytes) -> str:
    """rabbit_password_hashing_sha256: base64(salt + sha256(salt + password)), 4-byte salt."""
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode("utf-8")).digest()).decode("ascii")


def rabbitmq_user_lines(config: str) -> list[str]:
    """A configuration's cuttlefish lines without the keys the engine owns."""
    kept = []
    for line in config.splitlines():
        key = line.split("=", 1)[0].strip()
        if not key.startswith("#") and any(key.startswith(owned) for owned in RABBITMQ_ENGINE_KEYS):
            continue
        kept.append(line)
    return kept


class RabbitMQProcess(BrokerProcess):
    package = "rabbitmq-server"
    env_override = "ENGINE_RABBITMQ_SERVER"
    default_command = "rabbitmq-server"
    engine_label = "RABBITMQ"
    port_names = ("amqps", "amqp", "management", "dist", "epmd")
    debian_script = "/usr/lib/rabbitmq/bin/rabbitmq-server"

    @classmethod
    def find_command(cls, configured: str | None) -> str:
        path = super().find_command(configured)
        # Debian's /usr/sbin/rabbitmq-server is a link to a wrapper that switches to the rabbitmq
        # user and runs the real script (named rabbitmq-server, beside rabbitmq-env, as in
        # RabbitMQ's generic-unix layout); only the real script runs the broker as we configure it.
        for candidate in (path, cls.debian_script):
            real = Path(os.path.realpath(candidate))
            if real.name == "rabbitmq-server" and (real.parent / "rabbitmq-env").exists():
                return str(real)
        raise MissingBrokerCommand(
            f"{path} is not RabbitMQ's rabbitmq-server script (no rabbitmq-env beside it) and "
            f"{cls.debian_script} is missing: reinstall the Debian package {cls.package} "
            f"or set {cls.env_override} to the script in RabbitMQ's sbin directory.")

    def write_config(self, users: list[BrokerUser], config: str) -> None:
        definitions = {
            "users": [{"name": u.username, "password_hash": rabbitmq_password_hash(u.password, os.urandom(4)),
                       "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["administrator"]}
                      for u in users],
            "vhosts": [{"name": "/"}],
            "permissions": [{"user": u.username, "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
                            for u in users],
        }
        (self.directory / "definitions.json").write_text(json.dumps(definitions))
        tls = self.tls
        own = [
            f"listeners.tcp.default = 127.0.0.1:{self.ports['amqp']}",
            f"listeners.ssl.default = 127.0.0.1:{self.ports['amqps']}",
            f"ssl_options.certfile = {tls.cert}",
            f"ssl_options.keyfile = {tls.key}",
            "ssl_options.verify = verify_none",            # clients present no certificate, as on AWS
            "ssl_options.fail_if_no_peer_cert = false",
            "management.tcp.ip = 127.0.0.1",
            f"management.tcp.port = {self.ports['management']}",
            f"load_definitions = {self.directory / 'definitions.json'}",
            "loopback_users = none",
        ]
        (self.directory / "rabbitmq.conf").write_text("\n".join(rabbitmq_user_lines(config) + own) + "\n")
        (self.directory / "enabled_plugins").write_text("[rabbitmq_management].\n")

    def commands(self) -> list[tuple[list[str], dict]]:
        d = self.directory
        # A private epmd on our own port: Erlang would otherwise start a shared daemon that outlives us.
        epmd = (["epmd", "-port", str(self.ports["epmd"])], {})
        env = {
            "HOME": str(d),                           # the Erlang cookie is written here
            "RABBITMQ_CONF_ENV_FILE": "/dev/null",   # the system's rabbitmq-env.conf is not ours
            "RABBITMQ_NODENAME": f"rabbit_{self.ports['amqp']}@localhost",
            "ERL_EPMD_PORT": str(self.ports["epmd"]),
            "RABBITMQ_DIST_PORT": str(self.ports["dist"]),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(d / "rabbitmq.pid"),
            "RABBITMQ_LOGS": "-",
        }
        return [epmd, ([self.command], env)]

    def ready_ports(self) -> list[int]:
        return [self.ports["amqps"], self.ports["amqp"], self.ports["management"]]

    def endpoints(self) -> list[str]:
        """TLS first, as AWS lists it (AWS has no other); then the plain port."""
        return [f"amqps://127.0.0.1:{self.ports['amqps']}", f"amqp://127.0.0.1:{self.ports['amqp']}"]

    def console_url(self) -> str | None:
        return f"http://127.0.0.1:{self.ports['management']}"


# --- ActiveMQ ----------------------------------------------------------------------------------
# <broker> children the engine writes itself; a configuration's own are dropped.
ACTIVEMQ_ENGINE_ELEMENTS = ("transportConnectors", "persistenceAdapter", "sslContext")
# (connector name, URI scheme): TLS first, as AWS lists them (AWS has no others); then plain ones.
ACTIVEMQ_CONNECTORS = (("openwire-ssl", "ssl"), ("stomp-ssl", "stomp+ssl"), ("mqtt-ssl", "mqtt+ssl"),
                       ("openwire", "tcp"), ("stomp", "stomp"), ("mqtt", "mqtt"))
_AUTH_PLUGINS = ("simpleAuthenticationPlugin", "jaasAuthenticationPlugin", "jaasCertificateAuthenticationPlugin",
                 "jaasDualAuthenticationPlugin")
_LOG4J = """log4j.rootLogger=INFO, out
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=%d %-5p %c{1} - %m%n
"""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def activemq_broker_xml(config: str, broker_name: str, data_dir: Path, connectors: dict[str, str],
                        users: list[BrokerUser], tls: TlsFiles) -> str:
    """The Spring file ActiveMQ loads: the configuration's <broker>, with the engine's transport
    connectors ({name: uri}), TLS keystore, KahaDB directory and users, children in the
    alphabetical order ActiveMQ's schema wants."""
    ET.register_namespace("", ACTIVEMQ_NS)
    broker = ET.fromstring(config)
    q = f"{{{ACTIVEMQ_NS}}}"
    broker.set("brokerName", broker_name)
    broker.set("dataDirectory", str(data_dir))
    broker.set("useJmx", "false")
    for child in list(broker):
        if _local(child.tag) in ACTIVEMQ_ENGINE_ELEMENTS:
            broker.remove(child)
    plugins = broker.find(f"{q}plugins")
    if plugins is None:
        plugins = ET.SubElement(broker, f"{q}plugins")
    for plugin in list(plugins):
        if _local(plugin.tag) in _AUTH_PLUGINS:
            plugins.remove(plugin)
    auth = ET.Element(f"{q}simpleAuthenticationPlugin")
    user_list = ET.SubElement(auth, f"{q}users")
    for user in users:
        entry = ET.SubElement(user_list, f"{q}authenticationUser", username=user.username, password=user.password)
        entry.set("groups", ",".join(("users",) + tuple(user.groups)))
    plugins.insert(0, auth)
    adapter = ET.SubElement(broker, f"{q}persistenceAdapter")
    ET.SubElement(adapter, f"{q}kahaDB", directory=str(data_dir / "kahadb"))
    ET.SubElement(ET.SubElement(broker, f"{q}sslContext"), f"{q}sslContext", keyStore=str(tls.keystore),
                  keyStorePassword=tls.keystore_password, keyStoreType="pkcs12")
    transport = ET.SubElement(broker, f"{q}transportConnectors")
    for name, uri in connectors.items():
        ET.SubElement(transport, f"{q}transportConnector", name=name, uri=uri)
    broker[:] = sorted(broker, key=lambda child: _local(child.tag))
    body = ET.tostring(broker, encoding="unicode")
    return (f'<beans xmlns="{_BEANS_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:schemaLocation="{_BEANS_NS} http://www.springframework.org/schema/beans/spring-beans.xsd '
            f'{ACTIVEMQ_NS} http://activemq.apache.org/schema/core/activemq-core.xsd">\n{body}\n</beans>\n')


# Debian's activemq leaves out the MQTT codec its MQTT transport loads (FuseSource's mqtt-client,
# package libmqtt-client-java, with hawtdispatch); with them on the broker's classpath it speaks MQTT.
MQTT_CLIENT_JARS = ("/usr/share/java/mqtt-client.jar", "/usr/share/java/hawtdispatch-transport.jar",
                    "/usr/share/java/hawtdispatch.jar")
MQTT_PACKAGE = "libmqtt-client-java"


def mqtt_available() -> bool:
    return all(os.path.exists(jar) for jar in MQTT_CLIENT_JARS)


class ActiveMQProcess(BrokerProcess):
    package = "activemq"
    env_override = "ENGINE_ACTIVEMQ"
    default_command = "activemq"
    engine_label = "ACTIVEMQ"
    port_names = tuple(name for name, _ in ACTIVEMQ_CONNECTORS)

    def __init__(self, directory: Path, command: str, broker_name: str):
        super().__init__(directory, command, broker_name)
        self.protocols = tuple(name for name in self.port_names if mqtt_available() or not name.startswith("mqtt"))

    def write_config(self, users: list[BrokerUser], config: str) -> None:
        conf = self.directory / "conf"
        for sub in ("conf", "data", "tmp"):
            (self.directory / sub).mkdir(exist_ok=True)
        (conf / "activemq.xml").write_text(
            activemq_broker_xml(config, self.broker_name, self.directory / "data", self._connectors(), users,
                                self.tls))
        (conf / "log4j.properties").write_text(_LOG4J)   # the conf dir is on the broker's classpath

    def commands(self) -> list[tuple[list[str], dict]]:
        d = self.directory
        env = {
            "ACTIVEMQ_CONF": str(d / "conf"),
            "ACTIVEMQ_DATA": str(d / "data"),
            "ACTIVEMQ_TMP": str(d / "tmp"),
            "ACTIVEMQ_PIDFILE": str(d / "activemq.pid"),
            "ACTIVEMQ_USER": _current_user(),   # never su to the system's activemq user
            # Debian's options file sets ACTIVEMQ_OPTS (a 512 MB heap); these come after and win.
            "ACTIVEMQ_DEBUG_OPTS": limits.MQ_ACTIVEMQ_JVM_OPTS,
        }
        if "mqtt" in self.protocols:
            env["ACTIVEMQ_USER_CLASSPATH"] = ":".join(MQTT_CLIENT_JARS)
        return [([self.command, "console", f"xbean:file:{d / 'conf' / 'activemq.xml'}"], env)]

    def _connectors(self) -> dict[str, str]:
        schemes = dict(ACTIVEMQ_CONNECTORS)
        return {name: f"{schemes[name]}://127.0.0.1:{self.ports[name]}" for name in self.protocols}

    def ready_ports(self) -> list[int]:
        return [self.ports[name] for name in self.protocols]

    def endpoints(self) -> list[str]:
        return list(self._connectors().values())

    def console_url(self) -> str | None:
        return None   # Debian's activemq ships no web console


def _current_user() -> str:
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


PROCESS_CLASSES = {"RABBITMQ": RabbitMQProcess, "ACTIVEMQ": ActiveMQProcess}
