import asyncio, time
from aiokafka import AIOKafkaConsumer
from common import *
T = "aio-t"; G = "aio-g"; C = "aiokafka"
topic(T)
def mk():
    return AIOKafkaConsumer(T, bootstrap_servers=BOOT, group_id=G, enable_auto_commit=False, auto_offset_reset="earliest", heartbeat_interval_ms=300)
async def pump(cs, want, got, secs=60):
    t0 = time.time()
    while sum(len(g) for g in got) < want and time.time() - t0 < secs:
        for i, c in enumerate(cs):
            recs = await c.getmany(timeout_ms=50)
            for tp, ms in recs.items():
                got[i].extend(m.value.decode() for m in ms)
            if recs: await c.commit()
async def settle(cs, got, secs=30):
    t0 = time.time()
    while not all(c.assignment() for c in cs) and time.time() - t0 < secs:
        for i, c in enumerate(cs):
            for tp, ms in (await c.getmany(timeout_ms=50)).items():
                got[i].extend(m.value.decode() for m in ms)
            await c.commit()
    return time.time() - t0
async def main():
    a, b = mk(), mk()
    await a.start(); await b.start()
    got = [[], []]
    await settle((a, b), got)
    await pump((a, b), 400, got)
    ok, d = check_split(got[0], got[1], 400)
    report(C, "a_split", ok, d + f"; assignments {[len(c.assignment()) for c in (a,b)]}")
    await a.stop(); await b.stop()
    produce(T, 400, 40)
    c = mk(); await c.start(); new = [[]]
    await pump((c,), 40, new, 30)
    extra = await c.getmany(timeout_ms=1000)
    report(C, "b_resume", sorted(new[0]) == sorted(f"v{i}" for i in range(400, 440)) and not extra, f"{len(new[0])} new")
    d1 = mk(); await d1.start(); seen = [[], []]
    el = await settle((c, d1), seen)
    report(C, "c_rebalanced_in", bool(c.assignment()) and bool(d1.assignment()), f"after {el:.1f}s: {[len(x.assignment()) for x in (c,d1)]}")
    produce(T, 440, 40); await pump((c, d1), 40, seen, 30)
    s = set(seen[0]) | set(seen[1])
    report(C, "c_join_rebalance", s == {f"v{i}" for i in range(440, 480)}, f"{len(s)} read")
    await c.stop(); await d1.stop()
asyncio.run(main())
