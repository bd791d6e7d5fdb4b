const { Kafka, logLevel } = require('kafkajs');
const kafka = new Kafka({ clientId: 'kjs', brokers: ['127.0.0.1:19092'], logLevel: logLevel.NOTHING });
const T = 'kjs-t', G = 'kjs-g', C = 'kafkajs';
const report = (item, ok, d) => console.log(`RESULT ${C} ${item} ${ok ? 'PASS' : 'FAIL'} ${d}`);
const sleep = ms => new Promise(r => setTimeout(r, ms));
async function produce(from, n) {
  const p = kafka.producer(); await p.connect();
  const messages = []; for (let i = from; i < from + n; i++) messages.push({ key: `k${i}`, value: `v${i}` });
  await p.send({ topic: T, messages }); await p.disconnect();
}
async function member(tag, seen) {
  const c = kafka.consumer({ groupId: G, heartbeatInterval: 300, sessionTimeout: 10000 });
  await c.connect(); await c.subscribe({ topic: T, fromBeginning: true });
  c.assigned = 0;
  c.on(c.events.GROUP_JOIN, e => { c.assigned = Object.values(e.payload.memberAssignment).flat().length; });
  await c.run({ autoCommit: false, eachMessage: async ({ topic, partition, message }) => {
    seen.push([tag, message.value.toString()]);
    await c.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
  }});
  return c;
}
(async () => {
  const admin = kafka.admin(); await admin.connect();
  await admin.createTopics({ topics: [{ topic: T, numPartitions: 4 }] });
  const seen = [];
  const a = await member('A', seen), b = await member('B', seen);
  let t0 = Date.now();
  while (!(a.assigned > 0 && b.assigned > 0 && a.assigned + b.assigned === 4) && Date.now() - t0 < 30000) await sleep(100);
  await produce(0, 400);
  t0 = Date.now();
  while (seen.length < 400 && Date.now() - t0 < 60000) await sleep(100);
  await sleep(500);
  const va = seen.filter(s => s[0] === 'A').map(s => s[1]), vb = seen.filter(s => s[0] === 'B').map(s => s[1]);
  const uni = new Set([...va, ...vb]);
  // Before the second member joined, A may have read some records that later moved.
  report('a_split', uni.size === 400 && a.assigned > 0 && b.assigned > 0, `A read ${va.length}, B ${vb.length}, union ${uni.size} of 400, ${seen.length} deliveries; assignments A ${a.assigned} B ${b.assigned}`);
  await a.disconnect(); await b.disconnect();
  await produce(400, 40);
  const s2 = []; const c = await member('C', s2);
  t0 = Date.now(); while (s2.length < 40 && Date.now() - t0 < 30000) await sleep(100);
  await sleep(1500);
  const ok2 = s2.length === 40 && s2.every(s => Number(s[1].slice(1)) >= 400);
  report('b_resume', ok2, `${s2.length} records, all new: ${ok2}`);
  const s3 = []; const d = await member('D', s3);
  t0 = Date.now(); while (!(d.assigned > 0 && c.assigned > 0 && c.assigned + d.assigned === 4) && Date.now() - t0 < 30000) await sleep(100);
  report('c_rebalanced_in', d.assigned > 0, `after ${(Date.now() - t0) / 1000}s: C ${c.assigned} D ${d.assigned}`);
  await produce(440, 40);
  t0 = Date.now(); while ((s2.length - 40) + s3.length < 40 && Date.now() - t0 < 30000) await sleep(100);
  report('c_join_rebalance', (s2.length - 40) + s3.length >= 40, `${(s2.length - 40) + s3.length} read after the join`);
  await c.disconnect(); await d.disconnect();
  try {
    const lg = await admin.listGroups();
    const dg = await admin.describeGroups([G]);
    const off = await admin.fetchOffsets({ groupId: G, topics: [T] });
    const sum = off[0].partitions.reduce((s, p) => s + Number(p.offset), 0);
    await admin.resetOffsets({ groupId: G, topic: T, earliest: true });
    const off2 = await admin.fetchOffsets({ groupId: G, topics: [T] });
    const reset = off2[0].partitions.every(p => Number(p.offset) <= 0 || p.offset === '-1');
    await admin.deleteGroups([G]);
    const after = (await admin.listGroups()).groups.map(g => g.groupId);
    report('d_admin', lg.groups.some(g => g.groupId === G) && sum === 480 && reset && !after.includes(G), `listed, state ${dg.groups[0].state}, committed sum ${sum}, reset to earliest ${reset}, deleted`);
  } catch (e) { report('d_admin', false, String(e)); }
  await admin.disconnect();
})().catch(e => { console.log('ERROR', e); process.exit(1); });
