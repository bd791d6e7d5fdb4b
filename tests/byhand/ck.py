import time, sys
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from common import *
proto = sys.argv[1] if len(sys.argv) > 1 else "classic"
name = f"ck-{proto}"
T = f"{name}-t"; G = f"{name}-g"
topic(T)
def mk():
    conf = {"bootstrap.servers": BOOT, "group.id": G, "enable.auto.commit": False, "auto.offset.reset": "earliest"}
    if proto == "consumer": conf["group.protocol"] = "consumer"
    c = Consumer(conf); c.subscribe([T]); return c
a, b = mk(), mk()
got = {0: [], 1: []}
t0 = time.time()
while len(got[0]) + len(got[1]) < 400 and time.time() - t0 < 60:
    for i, c in enumerate((a, b)):
        m = c.poll(0.05)
        if m is None or m.error(): continue
        got[i].append(m.value().decode()); c.commit(m, asynchronous=False)
ok, d = check_split(got[0], got[1], 400)
report("confluent-kafka/" + proto, "a_split", ok, d + f" in {time.time()-t0:.1f}s; assignments {[len(c.assignment()) for c in (a,b)]}")
a.close(); b.close()
produce(T, 400, 40)
c = mk(); new = []; t0 = time.time()
while len(new) < 40 and time.time() - t0 < 30:
    m = c.poll(0.1)
    if m is None or m.error(): continue
    new.append(m.value().decode()); c.commit(m, asynchronous=False)
extra = c.poll(1.0)
report("confluent-kafka/" + proto, "b_resume", sorted(new) == sorted(f"v{i}" for i in range(400, 440)) and extra is None, f"{len(new)} new records")
# c: a third member joins while this one consumes
d1, d2 = mk(), mk()
produce(T, 440, 40); seen = []; t0 = time.time()
while len(seen) < 40 and time.time() - t0 < 30:
    for x in (c, d1, d2):
        m = x.poll(0.05)
        if m is None or m.error(): continue
        seen.append(m.value().decode()); x.commit(m, asynchronous=False)
report("confluent-kafka/" + proto, "c_join_rebalance", set(seen) == {f"v{i}" for i in range(440, 480)}, f"{len(seen)} read by 3 members; assignments {[len(x.assignment()) for x in (c,d1,d2)]}")
for x in (c, d1, d2): x.close()
adm = AdminClient({"bootstrap.servers": BOOT})
try:
    lst = adm.list_consumer_groups().result()
    names = [g.group_id for g in lst.valid]
    desc = adm.describe_consumer_groups([G])[G].result()
    from confluent_kafka import ConsumerGroupTopicPartitions
    offs = adm.list_consumer_group_offsets([ConsumerGroupTopicPartitions(G)])[G].result()
    committed = sum(tp.offset for tp in offs.topic_partitions)
    dl = adm.delete_consumer_groups([G])[G].result()
    after = [g.group_id for g in adm.list_consumer_groups().result().valid]
    report("confluent-kafka/" + proto, "d_admin", G in names and committed == 480 and G not in after,
           f"listed, described state={desc.state} type={getattr(desc,'type',None)}, committed sum {committed}, deleted")
except Exception as e:
    report("confluent-kafka/" + proto, "d_admin", False, repr(e))
