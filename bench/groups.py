#!/usr/bin/env python3
"""Group coordinator benchmark: rebalances per second with many members, kafkit's broker and
Apache Kafka each in a process of its own, measured in the same run, rounds interleaved.

Each measurement runs `testkit/examples/group_rebalance.rs` (a separate process) against the
broker: `--members` classic members, one connection each, all rejoining every round with new
metadata (so every round is a full rebalance: JoinGroup v9 from every member, then SyncGroup v5
from every member, the leader's with all assignments). Reported per broker, as the median over
the rounds: rebalances per second, the median round's milliseconds, and the broker process's
CPU seconds (user, sys) per 1000 rebalances (from /proc/<pid>/stat).

Both brokers run with group.initial.rebalance.delay.ms=0 (kafka/kafka.sh sets it for Kafka).

Usage (from the repository root; builds what it runs, fetches Kafka's jars):

    python3 bench/groups.py                      # 100 members, 200 rebalances, 5 rounds
    python3 bench/groups.py --members 20 --rebalances 100 --rounds 3

Not a test: numbers depend on the machine. Compare ratios from the same run.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import producers  # noqa: E402  (Broker, proc_cpu, log)

EXAMPLE = os.path.join(producers.RELEASE, "examples", "group_rebalance")


class KafkitBroker(producers.Broker):
    """kafkit's broker with groups rebalancing at once."""

    def __init__(self, workdir):
        self.kind = "kafkit"
        self.kafka_dir = None
        self.proc = subprocess.Popen(
            [os.path.join(producers.RELEASE, "kafkit-broker"), "--listen", "127.0.0.1:0",
             "--data-dir", os.path.join(workdir, "kafkit-data"),
             "--config", "group.initial.rebalance.delay.ms=0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        self.pid = self.proc.pid
        producers.log(f"kafkit broker at {self.bootstrap} (pid {self.pid})")


def measure(broker, members, rebalances, group):
    before = broker.cpu()
    out = subprocess.run([EXAMPLE, "--bootstrap", broker.bootstrap, "--members", str(members),
                          "--rounds", str(rebalances), "--group", group],
                         check=True, capture_output=True, text=True, timeout=600).stdout
    after = broker.cpu()
    fields = dict(kv.split("=") for kv in out.split())
    per_k = 1000.0 / rebalances
    return (float(fields["rebalances_per_s"]), float(fields["median_ms"]),
            (after[0] - before[0]) * per_k, (after[1] - before[1]) * per_k)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--rebalances", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        producers.log("building release binaries (kafkit-broker, group_rebalance)")
        subprocess.run(["cargo", "build", "--release", "-p", "kafkit-broker", "--bin", "kafkit-broker"],
                       check=True, cwd=producers.ROOT)
        subprocess.run(["cargo", "build", "--release", "-p", "kafkit-testkit", "--example",
                        "group_rebalance"], check=True, cwd=producers.ROOT)
        subprocess.run([producers.KAFKA_SH, "fetch"], check=True, capture_output=True)
    results = {"kafkit": [], "kafka": []}
    with tempfile.TemporaryDirectory(prefix="kafkit-group-bench-") as workdir:
        brokers = {"kafkit": KafkitBroker(workdir),
                   "kafka": producers.Broker("kafka", workdir, "unused")}
        try:
            for r in range(args.rounds):
                for name, broker in brokers.items():
                    row = measure(broker, args.members, args.rebalances, f"bench-{name}-{r}")
                    producers.log(f"round {r} {name}: {row[0]:.1f} rebalances/s, median {row[1]:.1f} ms, "
                                  f"broker cpu/1000 user {row[2]:.2f} s sys {row[3]:.2f} s")
                    results[name].append(row)
        finally:
            for broker in brokers.values():
                broker.stop()
    print(f"{args.members} members, {args.rebalances} rebalances per measurement, "
          f"median of {args.rounds} rounds")
    print("| broker | rebalances/s | median round (ms) | broker CPU s per 1000 rebalances (user / sys) |")
    print("|---|---|---|---|")
    for name, rows in results.items():
        med = [statistics.median(col) for col in zip(*rows)]
        print(f"| {name} | {med[0]:.1f} | {med[1]:.1f} | {med[2]:.2f} / {med[3]:.2f} |")


if __name__ == "__main__":
    main()
