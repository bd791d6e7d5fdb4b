# Transactions by hand with aiokafka: commit, abort, commit, then read_committed sees only the
# committed records; an exactly-once loop with send_offsets_to_transaction.
import asyncio, time
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from common import BOOT, report, topic

name = "aio-txn"
T = f"{name}-out"; IN = f"{name}-in"; G = f"{name}-g"
topic(T, n=0, parts=2)
topic(IN, n=20, parts=1)

async def read_all(t, isolation, want):
    c = AIOKafkaConsumer(bootstrap_servers=BOOT, isolation_level=isolation, auto_offset_reset="earliest",
                         enable_auto_commit=False)
    await c.start()
    c.assign([TopicPartition(t, 0), TopicPartition(t, 1)])
    got, t0 = [], time.time()
    while time.time() - t0 < 10 and len(got) < want:
        batches = await c.getmany(timeout_ms=200)
        for msgs in batches.values():
            got += [m.value.decode() for m in msgs]
    await asyncio.sleep(0.5)
    for msgs in (await c.getmany(timeout_ms=500)).values():
        got += [m.value.decode() for m in msgs]
    await c.stop()
    return got

async def main():
    p = AIOKafkaProducer(bootstrap_servers=BOOT, transactional_id=f"{name}-1", enable_idempotence=True)
    await p.start()
    for prefix, n, commit in (("c1", 10, True), ("a1", 5, False), ("c2", 5, True)):
        await p.begin_transaction()
        for i in range(n):
            await p.send_and_wait(T, f"{prefix}-{i}".encode(), partition=i % 2)
        await (p.commit_transaction() if commit else p.abort_transaction())
    committed = await read_all(T, "read_committed", 15)
    want = {f"c1-{i}" for i in range(10)} | {f"c2-{i}" for i in range(5)}
    report("aiokafka", "txn_read_committed", sorted(committed) == sorted(want), f"{len(committed)} records read, want 15")
    everything = await read_all(T, "read_uncommitted", 20)
    report("aiokafka", "txn_read_uncommitted", len(everything) == 20, f"{len(everything)} records read, want 20")

    c = AIOKafkaConsumer(IN, bootstrap_servers=BOOT, group_id=G, isolation_level="read_committed",
                         auto_offset_reset="earliest", enable_auto_commit=False)
    await c.start()
    done, t0 = 0, time.time()
    while done < 20 and time.time() - t0 < 30:
        for tp, msgs in (await c.getmany(timeout_ms=200)).items():
            for m in msgs:
                async with p.transaction():
                    await p.send(T, f"eos-{m.value.decode()}".encode(), partition=0)
                    await p.send_offsets_to_transaction({tp: m.offset + 1}, G)
                done += 1
    offset = await c.committed(TopicPartition(IN, 0))
    await c.stop()
    report("aiokafka", "txn_send_offsets", done == 20 and offset == 20, f"{done} processed, committed offset {offset}")
    await p.stop()

asyncio.run(main())
