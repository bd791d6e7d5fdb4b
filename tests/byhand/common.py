import time, sys
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
BOOT = "127.0.0.1:19092"
def topic(name, n=400, parts=4):
    a = AdminClient({"bootstrap.servers": BOOT})
    fs = a.create_topics([NewTopic(name, parts, 1)])
    for f in fs.values(): f.result()
    time.sleep(0.3)
    produce(name, 0, n)
def produce(name, start, n):
    p = Producer({"bootstrap.servers": BOOT})
    for i in range(start, start + n):
        p.produce(name, key=f"k{i}", value=f"v{i}")
    p.flush(30)
def check_split(a, b, total):
    sa, sb = set(a), set(b)
    ok = sa and sb and not (sa & sb) and len(sa | sb) == total and len(a) + len(b) == total
    return bool(ok), f"member A {len(a)} records, member B {len(b)}, union {len(sa|sb)} of {total}"
def report(client, item, ok, detail=""):
    print(f"RESULT {client} {item} {'PASS' if ok else 'FAIL'} {detail}", flush=True)
