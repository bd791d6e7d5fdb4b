// Transactions by hand with kafkajs: commit, abort, commit; a read_committed consumer reads only
// the committed records; an exactly-once loop with sendOffsets.
const { Kafka, logLevel } = require('kafkajs')
const kafka = new Kafka({ brokers: ['127.0.0.1:19092'], logLevel: logLevel.NOTHING })
const report = (item, ok, detail) => console.log(`RESULT kafkajs ${item} ${ok ? 'PASS' : 'FAIL'} ${detail}`)
const name = 'kjs-txn', T = `${name}-out`, IN = `${name}-in`, G = `${name}-g`

async function readAll (topic, readUncommitted, want) {
  const c = kafka.consumer({ groupId: `${name}-${readUncommitted}-${Date.now()}`, readUncommitted })
  await c.connect(); await c.subscribe({ topic, fromBeginning: true })
  const got = []
  await c.run({ eachMessage: async ({ message }) => { got.push(message.value.toString()) } })
  const t0 = Date.now()
  while (got.length < want && Date.now() - t0 < 15000) await new Promise(r => setTimeout(r, 200))
  await new Promise(r => setTimeout(r, 1000))
  await c.disconnect()
  return got
}

async function main () {
  const admin = kafka.admin(); await admin.connect()
  await admin.createTopics({ topics: [{ topic: T, numPartitions: 2 }, { topic: IN, numPartitions: 1 }] })
  await admin.disconnect()
  const plain = kafka.producer(); await plain.connect()
  await plain.send({ topic: IN, messages: Array.from({ length: 20 }, (_, i) => ({ value: `v${i}` })) })
  await plain.disconnect()

  const p = kafka.producer({ transactionalId: `${name}-1`, idempotent: true, maxInFlightRequests: 1 })
  await p.connect()
  for (const [prefix, n, commit] of [['c1', 10, true], ['a1', 5, false], ['c2', 5, true]]) {
    const txn = await p.transaction()
    await txn.send({ topic: T, messages: Array.from({ length: n }, (_, i) => ({ value: `${prefix}-${i}`, partition: i % 2 })) })
    await (commit ? txn.commit() : txn.abort())
  }
  const committed = await readAll(T, false, 15)
  const ok = committed.length === 15 && !committed.some(v => v.startsWith('a1'))
  report('txn_read_committed', ok, `${committed.length} records read, want 15 (no a1-*)`)
  const everything = await readAll(T, true, 20)
  report('txn_read_uncommitted', everything.length === 20, `${everything.length} records read, want 20`)

  const c = kafka.consumer({ groupId: G, readUncommitted: false })
  await c.connect(); await c.subscribe({ topic: IN, fromBeginning: true })
  let done = 0
  await c.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      const txn = await p.transaction()
      await txn.send({ topic: T, messages: [{ value: `eos-${message.value}`, partition: 0 }] })
      await txn.sendOffsets({ consumerGroupId: G, topics: [{ topic, partitions: [{ partition, offset: (Number(message.offset) + 1).toString() }] }] })
      await txn.commit()
      done++
    }
  })
  const t0 = Date.now()
  while (done < 20 && Date.now() - t0 < 30000) await new Promise(r => setTimeout(r, 200))
  await c.disconnect()
  const a = kafka.admin(); await a.connect()
  const offsets = await a.fetchOffsets({ groupId: G, topics: [IN] })
  await a.disconnect()
  const off = offsets[0].partitions[0].offset
  report('txn_send_offsets', done === 20 && off === '20', `${done} processed, committed offset ${off}`)
  await p.disconnect()
}
main().catch(e => { report('txn', false, e.stack); process.exit(1) })
