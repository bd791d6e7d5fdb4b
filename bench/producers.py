#!/usr/bin/env python3
"""Cross-process producer benchmark: kafkit-perf, librdkafka and Java's perf test, each in a
process of its own, against the same broker (kafkit's, librdkafka's mock, Apache Kafka), in one
run, rounds interleaved.

Every broker runs for the whole benchmark; each round visits every broker, and for every
settings row and acks value runs every client once, one after the other (so a drift of the
machine's speed hits all brokers and clients alike), sending
`--records` records of `--size` bytes to one topic with one partition. Reported per row, as the
median over the rounds:

- records/s, from each tool's summary line (kafka-producer-perf-test's format: acknowledged
  records over the time from the first send to the last acknowledgement);
- the producer process's CPU seconds per million records, user and system (getrusage of the
  child, JVM start and JIT included for Java: that is its cost too);
- the broker process's CPU seconds per million records ingested, user and system (from
  /proc/<pid>/stat);
- produce requests per second and bytes per request, from each client's own counters:
  kafkit-perf's CPU line (record-batch bytes), librdkafka's statistics (`req.Produce`, and
  `txbytes` over the Produce requests) and Java's `--print-metrics` (`request-total`,
  `outgoing-byte-total`, which count its few Metadata requests too).

Settings rows: `same-16k` (batch.size 16384, linger.ms 5, no idempotence: Java's defaults
without idempotence, on every client), `same-1m` (batch.size 1048576, linger.ms 5, no
idempotence), `defaults` (each client's own defaults; only acks and linger.ms 5 given), and
`txn-100ms` (not in the default list): each client's defaults in transactions, with
kafka-producer-perf-test's `--transactional-id` and `--transaction-duration-ms 100`, acks=all
only, for kafkit-perf and Java's tool (the librdkafka example has no transactions).

Brokers: `kafkit`, `rdkafka-mock`, `kafka`, and two not in the default list: `kafkit-tls`,
kafkit's broker behind an SSL listener, its certificate made with the openssl tool, so TLS can
be compared with plaintext in one run (`--brokers kafkit,kafkit-tls`); and `tansu`, the tansu
broker (a Rust Kafka-compatible broker) with its in-memory storage engine, from `$TANSU` or
`tansu` on the PATH (`cargo install tansu --version 0.6.0 --features dynostore`; it is not
fetched by this script). tansu keeps every record in memory, so it is started afresh at the
start of each round (the others run throughout).

Usage (from the repository root; builds what it runs, fetches Kafka's jars):

    python3 bench/producers.py                       # everything, 5 rounds
    python3 bench/producers.py --brokers kafkit --clients kafkit,librdkafka --rounds 3

Java's producer does not run against librdkafka's mock cluster (it never finds the topic in
the mock's metadata), so that pair is left out, with a line saying so.

Not a test: numbers depend on the machine. Compare ratios from the same run.
"""

import argparse
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
KAFKA_SH = os.path.join(ROOT, "kafka", "kafka.sh")

# Pairs that cannot run: Java's 4.1 producer never finds the topic in librdkafka's mock
# cluster's metadata ("Topic bench not present in metadata after 60000 ms").
INCOMPATIBLE = {("java", "rdkafka-mock")}

SETTINGS = {
    "same-16k": {"batch.size": "16384", "linger.ms": "5", "enable.idempotence": "false"},
    "same-1m": {"batch.size": "1048576", "linger.ms": "5", "enable.idempotence": "false"},
    "defaults": {"linger.ms": "5"},
    "txn-100ms": {"linger.ms": "5"},
}

# Settings rows run in transactions: the perf tools' flags for them.
TRANSACTIONAL = {"txn-100ms": ["--transaction-duration-ms", "100"]}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def proc_cpu(pid):
    """(user, sys) seconds of a process and its waited-for children, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rfind(")") + 2:].split()
    hz = os.sysconf("SC_CLK_TCK")
    # utime, stime are fields 14 and 15; cutime, cstime 16 and 17 (index 11.. after the name).
    return (int(fields[11]) + int(fields[13])) / hz, (int(fields[12]) + int(fields[14])) / hz


class Broker:
    """A running broker process: its bootstrap address and the pid whose CPU counts."""

    def __init__(self, kind, workdir, topic):
        self.workdir = workdir
        self.kind = kind
        self.topic = topic
        self.proc = None
        self.kafka_dir = None
        if kind == "kafkit":
            data = os.path.join(workdir, "kafkit-data")
            self.proc = subprocess.Popen(
                [os.path.join(RELEASE, "kafkit-broker"), "--listen", "127.0.0.1:0",
                 "--data-dir", data, "--partitions", "1"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self.bootstrap = self.proc.stdout.readline().strip()
            self.pid = self.proc.pid
        elif kind == "kafkit-tls":
            # The same broker behind an SSL listener: a CA and a certificate for 127.0.0.1 made
            # with the openssl tool; clients trust the CA (see tls_props).
            self.ca = make_certificates(workdir)
            data = os.path.join(workdir, "kafkit-tls-data")
            self.proc = subprocess.Popen(
                [os.path.join(RELEASE, "kafkit-broker"), "--data-dir", data, "--partitions", "1",
                 "--config", "listeners=SSL://127.0.0.1:0",
                 "--config", f"ssl.keystore.certificate.chain={open(os.path.join(workdir, 'server.pem')).read()}",
                 "--config", f"ssl.keystore.key={open(os.path.join(workdir, 'server.key')).read()}"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self.bootstrap = self.proc.stdout.readline().strip()
            self.pid = self.proc.pid
        elif kind == "rdkafka-mock":
            self.proc = subprocess.Popen(
                [os.path.join(RELEASE, "examples", "rdkafka_mock_broker"), "--topic", topic,
                 "--partitions", "1"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self.bootstrap = self.proc.stdout.readline().strip()
            self.pid = self.proc.pid
        elif kind == "tansu":
            tansu = os.environ.get("TANSU", "tansu")
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            url = f"tcp://127.0.0.1:{port}"
            self.proc = subprocess.Popen(
                [tansu, "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.bootstrap = f"127.0.0.1:{port}"
            self.pid = self.proc.pid
            # tansu does not create topics on Metadata: create it, retrying while it starts.
            for _ in range(50):
                created = subprocess.run([tansu, "topic", "create", topic, "--partitions", "1",
                                          "--broker", url], capture_output=True)
                if created.returncode == 0:
                    break
                time.sleep(0.2)
            else:
                raise SystemExit(f"tansu: could not create {topic}: {created.stderr[-500:]}")
        elif kind == "kafka":
            self.kafka_dir = os.path.join(workdir, "kafka")
            subprocess.run([KAFKA_SH, "start", "--dir", self.kafka_dir], check=True,
                           capture_output=True, text=True)
            self.bootstrap = open(os.path.join(self.kafka_dir, "bootstrap")).read().strip()
            self.pid = int(open(os.path.join(self.kafka_dir, "pids")).read().split()[0])
        else:
            raise SystemExit(f"unknown broker {kind}")
        log(f"{kind} broker at {self.bootstrap} (pid {self.pid})")

    def cpu(self):
        return proc_cpu(self.pid)

    def client_props(self, client):
        """What `client` needs to reach this broker besides bootstrap.servers."""
        if self.kind != "kafkit-tls":
            return {}
        if client == "librdkafka":
            return {"security.protocol": "ssl", "ssl.ca.location": self.ca}
        return {"security.protocol": "SSL", "ssl.truststore.type": "PEM",
                "ssl.truststore.location": self.ca}

    def stop(self):
        if self.kind == "kafka":
            subprocess.run([KAFKA_SH, "stop", "--dir", self.kafka_dir, "--kill"], check=False,
                           capture_output=True)
        elif self.proc:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def make_certificates(workdir):
    """A CA and a server certificate for 127.0.0.1 (EC P-256), with the openssl tool; returns
    the CA's PEM path."""
    def ossl(*args):
        subprocess.run(["openssl", *args], cwd=workdir, check=True, capture_output=True)
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ossl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=bench-ca")
    ossl("req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(workdir, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    return os.path.join(workdir, "ca.pem")


def client_command(client, topic, records, size, props, setting=None):
    flags = ["--topic", topic, "--num-records", str(records), "--record-size", str(size),
             "--throughput", "-1", "--producer-props"] + [f"{k}={v}" for k, v in props.items()]
    if setting in TRANSACTIONAL:
        flags += ["--transactional-id", f"bench-{client}-{time.time_ns()}"] + TRANSACTIONAL[setting]
    if client == "kafkit":
        return [os.path.join(RELEASE, "kafkit-perf")] + flags
    if client == "librdkafka":
        return [os.path.join(RELEASE, "examples", "rdkafka_perf"), "--print-metrics"] + flags
    if client == "java":
        return [KAFKA_SH, "run-class", "org.apache.kafka.tools.ProducerPerformance",
                "--print-metrics"] + flags
    raise SystemExit(f"unknown client {client}")


def requests_and_bytes(client, stdout):
    """(produce requests, bytes per request) from a client's own counters in its output."""
    for line in stdout.splitlines():
        if client == "kafkit" and line.startswith("CPU"):
            m = re.search(r"(\d+) produce requests, \d+ batches, (\d+) batch bytes per request", line)
            if m:
                return int(m.group(1)), int(m.group(2))
        if client == "librdkafka" and line.startswith("librdkafka statistics:"):
            m = re.search(r"(\d+) produce requests, (\d+) bytes per request", line)
            if m:
                return int(m.group(1)), int(m.group(2))
    if client == "java":
        metric = lambda name: float(re.search(
            rf"^producer-metrics:{name}:\{{[^}}]*\}}\s*: ([0-9.]+)", stdout, re.M).group(1))
        requests = metric("request-total")
        return int(requests), int(metric("outgoing-byte-total") / max(requests, 1))
    raise SystemExit(f"{client}: no request counters in {stdout[-2000:]}")


def run_client(client, broker, records, size, props, setting=None):
    """Runs one client to completion: (records/s, user s, sys s, broker user s, broker sys s,
    produce requests, bytes per request)."""
    props = dict(props, **{"bootstrap.servers": broker.bootstrap}, **broker.client_props(client))
    cmd = client_command(client, broker.topic, records, size, props, setting)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    broker_before = broker.cpu()
    out = subprocess.run(cmd, capture_output=True, text=True)
    broker_after = broker.cpu()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"{client} failed ({out.returncode}): {out.stdout[-2000:]}{out.stderr[-2000:]}")
    summary = [l for l in out.stdout.splitlines() if " records sent, " in l and "steady" not in l]
    if not summary:
        raise SystemExit(f"{client}: no summary line in {out.stdout[-2000:]}")
    line = summary[-1]
    sent = int(line.split()[0])
    if sent != records:
        raise SystemExit(f"{client}: {sent} of {records} records acknowledged: {line}")
    rate = float(line.split(" records sent, ")[1].split()[0])
    user = after.ru_utime - before.ru_utime
    sys_ = after.ru_stime - before.ru_stime
    requests, per_request = requests_and_bytes(client, out.stdout)
    return (rate, user, sys_, broker_after[0] - broker_before[0], broker_after[1] - broker_before[1],
            requests, per_request)


def build():
    log("building release binaries (kafkit-broker, kafkit-perf, rdkafka examples)")
    subprocess.run(["cargo", "build", "--release", "-p", "kafkit-broker", "--bin", "kafkit-broker"],
                   cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "-p", "kafkit-testkit", "--bin", "kafkit-perf",
                    "--example", "rdkafka_perf", "--example", "rdkafka_mock_broker"], cwd=ROOT, check=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--brokers", default="kafkit,rdkafka-mock,kafka")
    p.add_argument("--clients", default="kafkit,librdkafka,java")
    p.add_argument("--acks", default="1,all")
    p.add_argument("--settings", default="same-16k,same-1m,defaults")
    p.add_argument("--no-build", action="store_true")
    args = p.parse_args()
    if not args.no_build:
        build()
    for client, broker in sorted(INCOMPATIBLE):
        if client in args.clients and broker in args.brokers:
            log(f"not run: {client} on {broker} (see INCOMPATIBLE)")
    clients = args.clients.split(",")
    if "java" in clients or "kafka" in args.brokers:
        subprocess.run([KAFKA_SH, "fetch"], check=True, stdout=subprocess.DEVNULL)
    million = args.records / 1e6
    results = {}
    workdir = tempfile.mkdtemp(prefix="kafkit-bench-")
    brokers = []
    try:
        # Every broker runs for the whole benchmark and each round visits them all, so a drift
        # of the machine's speed hits every broker alike (TLS against plaintext, say).
        for kind in args.brokers.split(","):
            broker = Broker(kind, workdir, "bench")
            brokers.append(broker)
            # A first run creates the topic and warms the broker; not counted.
            run_client("kafkit", broker, 10_000, args.size, {"acks": "1"})
        for r in range(args.rounds):
            for i, broker in enumerate(brokers):
                if broker.kind == "tansu" and r > 0:
                    broker.stop()
                    broker = brokers[i] = Broker("tansu", workdir, "bench")
                    run_client("kafkit", broker, 10_000, args.size, {"acks": "1"})
                kind = broker.kind
                for setting in args.settings.split(","):
                    for acks in args.acks.split(","):
                        for client in clients:
                            if (client, kind) in INCOMPATIBLE:
                                continue
                            if setting in TRANSACTIONAL and (acks != "all" or client == "librdkafka"):
                                continue
                            props = dict(SETTINGS[setting], acks=acks)
                            rate, user, sys_, buser, bsys, requests, per_request = run_client(
                                client, broker, args.records, args.size, props, setting)
                            key = (kind, setting, acks, client)
                            # Requests per second over the same time the rate is measured in.
                            req_rate = requests * rate / args.records
                            results.setdefault(key, []).append(
                                (rate, user / million, sys_ / million, buser / million, bsys / million,
                                 req_rate, per_request))
                            log(f"round {r + 1} {kind} {setting} acks={acks} {client}: {rate:,.0f} rec/s, "
                                f"client {user / million:.2f}+{sys_ / million:.2f} s/M, broker "
                                f"{buser / million:.2f}+{bsys / million:.2f} s/M, {req_rate:,.0f} requests/s "
                                f"of {per_request:,} B")
    finally:
        for broker in brokers:
            broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n{args.records} x {args.size} B, 1 partition, median of {args.rounds} interleaved rounds")
    print("| broker | settings | acks | producer | records/s | producer CPU s/M (user + sys) "
          "| broker CPU s/M (user + sys) | requests/s | bytes/request |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    for (kind, setting, acks, client), runs in results.items():
        med = lambda i: statistics.median(x[i] for x in runs)
        print(f"| {kind} | {setting} | {acks} | {client} | {med(0):,.0f} | "
              f"{med(1) + med(2):.2f} ({med(1):.2f} + {med(2):.2f}) | "
              f"{med(3) + med(4):.2f} ({med(3):.2f} + {med(4):.2f}) | {med(5):,.0f} | {med(6):,.0f} |")
    print("\nkafkit / librdkafka (records/s ratio; CPU ratio, lower is better):")
    for (kind, setting, acks, client), runs in results.items():
        if client != "kafkit" or (kind, setting, acks, "librdkafka") not in results:
            continue
        other = results[(kind, setting, acks, "librdkafka")]
        med = lambda rs, i: statistics.median(x[i] for x in rs)
        rate = med(runs, 0) / med(other, 0)
        cpu = (med(runs, 1) + med(runs, 2)) / (med(other, 1) + med(other, 2))
        print(f"  {kind} {setting} acks={acks}: {rate:.2f}x records/s, {cpu:.2f}x CPU")


if __name__ == "__main__":
    main()
