"""The embedded Kafka broker: a real single-node Apache Kafka in KRaft mode, on loopback, no Docker.

``shopguard kafka start`` runs the broker from the jars Maven resolves (see
:mod:`shopguard.local.maven_artifacts`) as a detached ``java`` process in combined mode (broker and
controller in one process), formats its storage once, and waits until it answers Kafka requests.
Everything lives in one data folder: ``server.properties``, ``log4j2.properties``, ``broker.pid``,
``broker.log`` (the broker's own log) and the log directories.

Example
-------
>>> from shopguard.config import ShopguardConfig
>>> props = server_properties(ShopguardConfig(), Path("/tmp/kafka-data"))
>>> props["listeners"], props["process.roles"]
('PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093', 'broker,controller')
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError
from shopguard.local.maven_artifacts import ArtifactError, kafka_broker_jars
from shopguard.local.process_exit import wait_for_exit

NODE_ID = 1


class BrokerError(ShopguardError):
    """The embedded broker cannot start or stop; the message says why and what to do."""


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    address: str
    data_dir: Path
    log_path: Path
    pid: int | None = None

    def describe(self) -> str:
        if self.running:
            return f"Kafka broker running at {self.address} (pid {self.pid}, data {self.data_dir})"
        return f"Kafka broker not running (would listen on {self.address}, data {self.data_dir})"


def data_dir_of(cfg: ShopguardConfig) -> Path:
    return Path(cfg.broker.data_dir) if cfg.broker.data_dir else Path(cfg.cache_dir) / "kafka-data"


def server_properties(cfg: ShopguardConfig, data_dir: Path) -> dict[str, str]:
    """The broker's settings: one node, loopback only, small replication, transactions usable."""
    b = cfg.broker
    return {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@{b.host}:{b.controller_port}",
        "listeners": f"PLAINTEXT://{b.host}:{b.port},CONTROLLER://{b.host}:{b.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{b.host}:{b.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir / "logs"),
        "num.partitions": "2",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "message.max.bytes": str(4 * 1024 * 1024),
        "log.retention.hours": "24",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }


LOG4J2_PROPERTIES = """\
# Written by shopguard: the embedded broker logs to broker.log beside this file, warnings and up.
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/broker.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = info
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = info
"""


class LocalKafkaBroker:
    """Start, stop and inspect the embedded broker described by ``cfg.broker``."""

    def __init__(self, cfg: ShopguardConfig):
        self.cfg = cfg
        self.data_dir = data_dir_of(cfg)
        self.address = f"{cfg.broker.host}:{cfg.broker.port}"
        self.pid_path = self.data_dir / "broker.pid"
        self.log_path = self.data_dir / "broker.log"

    def status(self) -> BrokerStatus:
        pid = self._live_pid()
        running = pid is not None and _port_open(self.cfg.broker.host, self.cfg.broker.port)
        return BrokerStatus(running, self.address, self.data_dir, self.log_path, pid if running else None)

    @contextlib.contextmanager
    def running(self) -> Iterator[BrokerStatus]:
        """The broker for the length of a ``with`` block: started if it was not running, and then stopped
        after the block; a broker that was already running is left running (a measurement run beside it)."""
        was_running = self.status().running
        status = self.start()
        try:
            yield status
        finally:
            if not was_running:
                self.stop()

    def start(self) -> BrokerStatus:
        """Start the broker, or report the one already running; raise :class:`BrokerError` on failure."""
        current = self.status()
        if current.running:
            print(f"Kafka broker already running at {self.address} (pid {current.pid})", flush=True)
            return current
        if self._live_pid() is not None:
            raise BrokerError(
                f"a broker process (pid {self._live_pid()}) owns {self.data_dir} but does not answer "
                f"on {self.address}: run 'shopguard kafka stop', then start again"
            )
        self.pid_path.unlink(missing_ok=True)
        java = _java()
        for port in (self.cfg.broker.port, self.cfg.broker.controller_port):
            if _port_open(self.cfg.broker.host, port):
                raise BrokerError(
                    f"port {port} on {self.cfg.broker.host} is already in use by another program: "
                    "stop it or choose other ports with --set broker.port=... "
                    "--set broker.controller_port=..."
                )
        classpath = os.pathsep.join(str(jar) for jar in kafka_broker_jars(self.cfg))
        properties = self._write_config()
        self._format_storage_once(java, classpath, properties)
        process = self._launch(java, classpath, properties)
        self._wait_until_ready(process)
        status = self.status()
        print(f"Kafka broker started at {self.address} (pid {status.pid}, log {self.log_path})", flush=True)
        return status

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker cleanly (SIGTERM), forcefully after ``timeout_s``; False if none was running."""
        pid = self._live_pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        if not _wait_for_exit(pid, timeout_s):
            os.kill(pid, signal.SIGKILL)
            _wait_for_exit(pid, 10.0)
        self.pid_path.unlink(missing_ok=True)
        return True

    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        properties = self.data_dir / "server.properties"
        lines = [f"{key}={value}" for key, value in server_properties(self.cfg, self.data_dir).items()]
        properties.write_text(
            "# Written by shopguard from its configuration; edits are overwritten.\n" + "\n".join(lines) + "\n"
        )
        (self.data_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        return properties

    def _jvm(self, java: str, classpath: str) -> list[str]:
        return [
            java,
            f"-Xmx{self.cfg.broker.heap}",
            f"-Xms{self.cfg.broker.heap}",
            f"-Dkafka.logs.dir={self.data_dir}",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            classpath,
        ]

    def _format_storage_once(self, java: str, classpath: str, properties: Path) -> None:
        if (self.data_dir / "logs" / "meta.properties").is_file():
            return
        cluster_id = _kafka_uuid()
        result = subprocess.run(
            [
                *self._jvm(java, classpath),
                "kafka.tools.StorageTool",
                "format",
                "--config",
                str(properties),
                "--cluster-id",
                cluster_id,
                "--ignore-formatted",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise BrokerError(
                f"formatting Kafka storage in {self.data_dir} failed: {(result.stdout + result.stderr).strip()[-800:]}"
            )

    def _launch(self, java: str, classpath: str, properties: Path) -> subprocess.Popen:
        with (self.data_dir / "broker.out").open("ab") as out:
            process = subprocess.Popen(
                [*self._jvm(java, classpath), "kafka.Kafka", str(properties)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_path.write_text(f"{process.pid}\n")
        return process

    def _wait_until_ready(self, process: subprocess.Popen) -> None:
        deadline = time.monotonic() + self.cfg.broker.start_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_path.unlink(missing_ok=True)
                raise BrokerError(
                    f"the Kafka broker exited with code {process.returncode} while starting; "
                    f"last lines of {self._log_hint()}:\n{self._log_tail()}"
                )
            if _answers_kafka(self.address):
                return
            time.sleep(0.5)
        self.stop()
        raise BrokerError(
            f"the Kafka broker did not answer on {self.address} within "
            f"{self.cfg.broker.start_timeout_s:g} s (broker.start_timeout_s); "
            f"last lines of {self._log_hint()}:\n{self._log_tail()}"
        )

    def _log_hint(self) -> Path:
        return self.log_path if self.log_path.is_file() else self.data_dir / "broker.out"

    def _log_tail(self, lines: int = 15) -> str:
        path = self._log_hint()
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.is_file() else "(no log)"

    def _live_pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_our_broker(pid) else None


def broker_command(cfg: ShopguardConfig, action: str) -> int:
    """``shopguard kafka start|stop|status``: print one line, return the exit code (status: 3 = stopped)."""
    broker = LocalKafkaBroker(cfg)
    try:
        if action == "start":
            broker.start()
            return 0
        if action == "stop":
            print(
                f"Kafka broker at {broker.address} stopped"
                if broker.stop()
                else f"no Kafka broker was running for {broker.data_dir}"
            )
            return 0
        status = broker.status()
        print(status.describe())
        return 0 if status.running else 3
    except (BrokerError, ArtifactError) as error:
        print(f"shopguard: {error}", flush=True)
        return 1


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise BrokerError(
            "java not found on PATH: install Java 17 (apt-get install openjdk-17-jre-headless) "
            "or put its bin folder on PATH"
        )
    return java


def _kafka_uuid() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (as kafka-storage random-uuid).

    Like Kafka's own ``Uuid.randomUuid()``, an id that starts with ``-`` is drawn again: the storage tool's
    argument parser reads ``--cluster-id -abc...`` as a missing value followed by an unknown option (about
    one start in 64 failed that way before).
    """
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _answers_kafka(address: str) -> bool:
    """True once the broker serves metadata (a bare open port is not enough)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=address, request_timeout_ms=3000)
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def _is_our_broker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in cmdline


def _wait_for_exit(pid: int, timeout_s: float) -> bool:
    return wait_for_exit(pid, _is_our_broker, timeout_s)
