// SASL_SSL by hand: kafkajs against kafkit-broker's SASL_SSL listener (sec_broker.sh), for each
// mechanism: produce 10 records, read them back, and a wrong password refused.
const fs = require('fs');
const { Kafka, logLevel } = require('kafkajs');
const CA = process.argv[2] || '/tmp/kafkit-sec/ca.pem';
const BROKER = process.argv[3] || '127.0.0.1:19094';
const report = (item, ok, detail = '') =>
  console.log(`RESULT kafkajs ${item} ${ok ? 'PASS' : 'FAIL'} ${detail}`);
async function run(mechanism) {
  // First, in a client of its own: a wrong password (kafkajs connects lazily, so send).
  const bad = new Kafka({ brokers: [BROKER], ssl: { ca: [fs.readFileSync(CA, 'utf-8')] },
    sasl: { mechanism, username: 'alice', password: 'wrong' },
    logLevel: logLevel.NOTHING, retry: { retries: 0 } }).producer();
  try {
    await bad.connect();
    await bad.send({ topic: 'sec-kjs-never', messages: [{ value: 'x' }] }); // kafkajs connects lazily
    report(`${mechanism} wrong password`, false, 'accepted');
  } catch (e) {
    report(`${mechanism} wrong password`, /SASL|authentication/i.test(`${e.name} ${e.message}`), `${e.name}: ${e.message.slice(0, 120)}`);
  }
  const ssl = { ca: [fs.readFileSync(CA, 'utf-8')] };
  const sasl = { mechanism, username: 'alice', password: 'alice-secret' };
  const kafka = new Kafka({ brokers: [BROKER], ssl, sasl, logLevel: logLevel.NOTHING });
  const topic = `sec-kjs-${mechanism}-${Date.now()}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: [...Array(10).keys()].map(i => ({ value: `v${i}` })) });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: `g-${topic}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  await new Promise(resolve => {
    consumer.run({ eachMessage: async ({ message }) => { got.push(message.value.toString()); if (got.length === 10) resolve(); } });
    setTimeout(resolve, 20000);
  });
  await consumer.disconnect();
  report(`${mechanism} round trip`, got.join() === [...Array(10).keys()].map(i => `v${i}`).join(), `${got.length} read`);
}
(async () => { for (const m of ['plain', 'scram-sha-256', 'scram-sha-512']) await run(m); })()
  .catch(e => { console.error(e); process.exit(1); });
