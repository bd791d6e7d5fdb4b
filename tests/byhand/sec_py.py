"""SASL_SSL by hand: confluent-kafka, kafka-python and aiokafka against kafkit-broker's SASL_SSL
listener (sec_broker.sh). For each client and mechanism: produce 10 records, read them back with
an assigned consumer, and check that a wrong password is refused. Prints RESULT lines."""
import asyncio, sys, time, uuid
CA = sys.argv[1] if len(sys.argv) > 1 else "/tmp/kafkit-sec/ca.pem"
BOOT = "127.0.0.1:19094"
MECHS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

def report(client, item, ok, detail=""):
    print(f"RESULT {client} {item} {'PASS' if ok else 'FAIL'} {detail}", flush=True)

def ck(mech):
    from confluent_kafka import Producer, Consumer, TopicPartition, KafkaException
    conf = {"bootstrap.servers": BOOT, "security.protocol": "SASL_SSL", "ssl.ca.location": CA,
            "sasl.mechanisms": mech, "sasl.username": "alice", "sasl.password": "alice-secret"}
    topic = f"sec-ck-{uuid.uuid4().hex[:6]}"
    p = Producer(conf)
    for i in range(10):
        p.produce(topic, value=f"v{i}".encode())
    left = p.flush(20)
    c = Consumer(dict(conf, **{"group.id": "g", "enable.auto.commit": False}))
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.time() + 20
    while len(got) < 10 and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value().decode())
    c.close()
    report("confluent-kafka", f"{mech} round trip", left == 0 and got == [f"v{i}" for i in range(10)], f"{len(got)} read")
    errors = []
    bad = Producer(dict(conf, **{"sasl.password": "wrong", "error_cb": lambda e: errors.append(str(e))}))
    bad.produce(topic, value=b"x")
    deadline = time.time() + 15
    while not errors and time.time() < deadline:
        bad.poll(0.2)
    report("confluent-kafka", f"{mech} wrong password", any("Authentication failed" in e or "Invalid username" in e for e in errors), errors[:1])

def kp(mech):
    from kafka import KafkaProducer, KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError
    conf = dict(bootstrap_servers=BOOT, security_protocol="SASL_SSL", ssl_cafile=CA,
                sasl_mechanism=mech, sasl_plain_username="alice", sasl_plain_password="alice-secret")
    topic = f"sec-kp-{uuid.uuid4().hex[:6]}"
    p = KafkaProducer(**conf)
    for i in range(10):
        p.send(topic, f"v{i}".encode()).get(timeout=20)
    p.close()
    c = KafkaConsumer(**conf, enable_auto_commit=False, consumer_timeout_ms=5000)
    c.assign([TopicPartition(topic, 0)])
    c.seek_to_beginning()
    got = [m.value.decode() for m in c]
    c.close()
    report("kafka-python", f"{mech} round trip", got == [f"v{i}" for i in range(10)], f"{len(got)} read")
    # kafka-python logs the broker's refusal and raises "Unable to bootstrap" (as against Kafka).
    import logging
    seen = []
    class Grab(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())
    handler = Grab()
    logging.getLogger("kafka").addHandler(handler)
    logging.getLogger("kafka").setLevel(logging.DEBUG)
    try:
        KafkaProducer(**dict(conf, sasl_plain_password="wrong", max_block_ms=5000)).close()
        report("kafka-python", f"{mech} wrong password", False, "accepted")
    except Exception as e:
        auth = [m for m in seen if "Authentication failed" in m]
        report("kafka-python", f"{mech} wrong password", bool(auth), f"{type(e).__name__}; logged: {auth[:1]}")
    finally:
        logging.getLogger("kafka").removeHandler(handler)

async def aio(mech):
    import ssl
    from aiokafka import AIOKafkaProducer, AIOKafkaConsumer, TopicPartition
    ctx = ssl.create_default_context(cafile=CA)
    conf = dict(bootstrap_servers=BOOT, security_protocol="SASL_SSL", ssl_context=ctx,
                sasl_mechanism=mech, sasl_plain_username="alice", sasl_plain_password="alice-secret")
    topic = f"sec-aio-{uuid.uuid4().hex[:6]}"
    p = AIOKafkaProducer(**conf)
    await p.start()
    for i in range(10):
        await p.send_and_wait(topic, f"v{i}".encode(), partition=0)
    await p.stop()
    c = AIOKafkaConsumer(**conf, enable_auto_commit=False)
    await c.start()
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    await c.seek_to_beginning(tp)
    got = []
    try:
        while len(got) < 10:
            m = await asyncio.wait_for(c.getone(), 10)
            got.append(m.value.decode())
    finally:
        await c.stop()
    report("aiokafka", f"{mech} round trip", got == [f"v{i}" for i in range(10)], f"{len(got)} read")
    bad = AIOKafkaProducer(**dict(conf, sasl_plain_password="wrong"))
    try:
        await bad.start()
        report("aiokafka", f"{mech} wrong password", False, "accepted")
    except Exception as e:
        report("aiokafka", f"{mech} wrong password", True, f"{type(e).__name__}: {str(e)[:120]}")
    finally:
        await bad.stop()

for mech in MECHS:
    ck(mech)
    kp(mech)
    asyncio.run(aio(mech))
