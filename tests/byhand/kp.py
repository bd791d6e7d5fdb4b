import time
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from common import *
T = "kp-t"; G = "kp-g"; C = "kafka-python"
topic(T)
def mk():
    c = KafkaConsumer(bootstrap_servers=BOOT, group_id=G, enable_auto_commit=False, auto_offset_reset="earliest", heartbeat_interval_ms=300)
    c.subscribe([T]); return c
def pump(cs, want, got, secs=60):
    t0 = time.time()
    while sum(len(g) for g in got) < want and time.time() - t0 < secs:
        for i, c in enumerate(cs):
            recs = c.poll(timeout_ms=50)
            for tp, ms in recs.items():
                for m in ms: got[i].append(m.value.decode())
            if recs: c.commit()
    return time.time() - t0
a, b = mk(), mk()
got = [[], []]
# let both join before reading: poll until both have assignments
t0 = time.time()
while (not a.assignment() or not b.assignment()) and time.time() - t0 < 30:
    for i, c in enumerate((a, b)):
        for tp, ms in c.poll(timeout_ms=50).items():
            got[i].extend(m.value.decode() for m in ms)
        c.commit()
el = pump((a, b), 400, got)
ok, d = check_split(got[0], got[1], 400)
report(C, "a_split", ok, d + f"; assignments {[len(c.assignment()) for c in (a,b)]}")
a.close(); b.close()
produce(T, 400, 40)
c = mk(); new = [[]]; pump((c,), 40, new, 30)
extra = c.poll(timeout_ms=1000)
report(C, "b_resume", sorted(new[0]) == sorted(f"v{i}" for i in range(400, 440)) and not extra, f"{len(new[0])} new")
d1 = mk(); seen = [[], []]
t0 = time.time()
while (not c.assignment() or not d1.assignment()) and time.time() - t0 < 30:
    for i, x in enumerate((c, d1)):
        for tp, ms in x.poll(timeout_ms=50).items():
            seen[i].extend(m.value.decode() for m in ms)
report(C, "c_rebalanced_in", bool(c.assignment()) and bool(d1.assignment()), f"after {time.time()-t0:.1f}s: {[len(x.assignment()) for x in (c,d1)]}")
produce(T, 440, 40); pump((c, d1), 40, seen, 30)
allseen = set(seen[0]) | set(seen[1])
report(C, "c_join_rebalance", allseen == {f"v{i}" for i in range(440, 480)}, f"{len(allseen)} read; assignments {[len(x.assignment()) for x in (c,d1)]}")
c.close(); d1.close()
try:
    adm = KafkaAdminClient(bootstrap_servers=BOOT)
    lg = adm.list_groups()
    names = [g['group_id'] for g in lg]
    desc = adm.describe_groups([G])[G]['group_state']
    offs = adm.list_group_offsets(G)[G]
    total = sum(o.offset for o in offs.values())
    res = adm.delete_groups([G])
    names_after = [g['group_id'] for g in adm.list_groups()]
    report(C, "d_admin", G in names and total == 480 and G not in names_after, f"listed, described state={desc}, committed sum {total}, delete {res}")
except Exception as e:
    report(C, "d_admin", False, repr(e))
