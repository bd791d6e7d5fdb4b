# Transactions by hand with confluent-kafka (librdkafka): commit, abort, commit; a read_committed
# consumer reads only the committed records, a read_uncommitted one all of them; an exactly-once
# loop (consume in a group, produce, send_offsets_to_transaction with the consumer's group
# metadata, commit); a second producer with the same transactional.id fences the first.
import time
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from common import BOOT, report, topic

name = "ck-txn"
T = f"{name}-out"; IN = f"{name}-in"; G = f"{name}-g"
topic(T, n=0, parts=2)
topic(IN, n=20, parts=1)

def read_all(t, isolation, want, parts=2):
    c = Consumer({"bootstrap.servers": BOOT, "group.id": f"{name}-{isolation}-{time.time()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False, "isolation.level": isolation})
    c.assign([TopicPartition(t, p, 0) for p in range(parts)])
    got, t0 = [], time.time()
    while time.time() - t0 < 10 and len(got) < want:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append(m.value().decode())
    extra = c.poll(1.0)
    if extra is not None and not extra.error():
        got.append(extra.value().decode())
    c.close()
    return got

p = Producer({"bootstrap.servers": BOOT, "transactional.id": f"{name}-1"})
p.init_transactions(10)
for prefix, n, commit in (("c1", 10, True), ("a1", 5, False), ("c2", 5, True)):
    p.begin_transaction()
    for i in range(n):
        p.produce(T, value=f"{prefix}-{i}", partition=i % 2)
    p.flush(10)
    (p.commit_transaction if commit else p.abort_transaction)(10)
committed = read_all(T, "read_committed", 15)
want = {f"c1-{i}" for i in range(10)} | {f"c2-{i}" for i in range(5)}
report("confluent-kafka", "txn_read_committed", sorted(committed) == sorted(want), f"{len(committed)} records read, want 15 (no a1-*)")
everything = read_all(T, "read_uncommitted", 20)
report("confluent-kafka", "txn_read_uncommitted", len(everything) == 20, f"{len(everything)} records read, want 20")

# Exactly once: consume IN in group G, write to T, offsets in the transaction.
c = Consumer({"bootstrap.servers": BOOT, "group.id": G, "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "isolation.level": "read_committed"})
c.subscribe([IN])
done, t0 = 0, time.time()
while done < 20 and time.time() - t0 < 30:
    m = c.poll(0.2)
    if m is None or m.error():
        continue
    p.begin_transaction()
    p.produce(T, value=f"eos-{m.value().decode()}", partition=0)
    p.send_offsets_to_transaction([TopicPartition(IN, 0, m.offset() + 1)], c.consumer_group_metadata(), 10)
    p.commit_transaction(10)
    done += 1
offsets = c.committed([TopicPartition(IN, 0)], 10)
c.close()
report("confluent-kafka", "txn_send_offsets", done == 20 and offsets[0].offset == 20,
       f"{done} records processed, committed offset {offsets[0].offset} (want 20)")

# Fencing: a second instance of the transactional id.
p.begin_transaction()
p.produce(T, value="zombie", partition=1)
p.flush(10)
p2 = Producer({"bootstrap.servers": BOOT, "transactional.id": f"{name}-1"})
p2.init_transactions(10)
try:
    p.commit_transaction(10)
    report("confluent-kafka", "txn_fenced", False, "the fenced producer committed")
except KafkaException as e:
    err = e.args[0]
    report("confluent-kafka", "txn_fenced", err.fatal() or "FENCED" in err.name(), f"{err.name()} fatal={err.fatal()}")
