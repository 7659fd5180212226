// Interop test peer for meshd: a js-libp2p node with DEFAULT gossipsub
// settings (StrictSign, default msgIdFn, default limits), spawned as a child
// process by meshd's Rust integration tests to check that meshd's gossipsub
// talks to a stock js-libp2p peer.
//
// Usage: node peer.mjs TOPIC [MULTIADDR...]
//   Listens on /ip4/127.0.0.1/tcp/0 (tcp + noise + yamux, identify, ping,
//   gossipsub), subscribes to TOPIC, then dials every MULTIADDR (each with
//   /p2p/<peer id>).
//
// stdout, one JSON object per line:
//   {"event":"listening","addr":"<multiaddr>/p2p/<own id>"}  per listen address
//   {"event":"ready","peer":"<own id>"}         subscribed and all dials done
//   {"event":"subscribed","peer":"<id>"}        a remote peer joined TOPIC
//   {"event":"mesh","peers":N}                  mesh size for TOPIC changed
//   {"event":"message","from":"<id>","seqno":"<decimal>","data":"<hex>"}
//   {"event":"published","recipients":N}        answer to `publish`
//   {"event":"error","message":"..."}
// stdin, one command per line:
//   publish <hex>   publish those bytes on TOPIC
//   quit               stop and exit 0 (closing stdin does the same)
// The run is bounded: it stops by itself (exit 0) after 120 s. Any other
// error prints an error event and exits 1.
// Debug logs of js-libp2p go to stderr with DEBUG=libp2p:* in the environment.

import { createInterface } from 'node:readline'
import { gossipsub } from '@chainsafe/libp2p-gossipsub'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

// Node 20 lacks Promise.withResolvers (Node 22+), which it-queue (under
// libp2p's peer store, via mortice) calls: the standard behaviour, shimmed.
Promise.withResolvers ??= function () {
  let resolve, reject
  const promise = new this((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

const RUN_LIMIT_MS = 120_000
const MESH_POLL_MS = 100

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const errorMessage = (err) => String(err?.message ?? err)

let node
let stopping = false

async function shutdown (code) {
  if (stopping) return
  stopping = true
  // Never hang on a slow stop: the parent test waits on our exit.
  setTimeout(() => process.exit(code), 5000).unref()
  try { await node?.stop() } catch {}
  process.exit(code)
}

function fail (err) {
  out({ event: 'error', message: errorMessage(err) })
  shutdown(1)
}

process.on('uncaughtException', fail)
process.on('unhandledRejection', fail)
process.stdout.on('error', () => process.exit(1)) // parent went away

const [topic, ...dialAddrs] = process.argv.slice(2)
if (topic == null || topic === '') {
  fail(new Error('usage: node peer.mjs TOPIC [MULTIADDR...]'))
} else {
  await main()
}

async function main () {
  setTimeout(() => shutdown(0), RUN_LIMIT_MS)

  node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub() // defaults only
    }
  })
  const pubsub = node.services.pubsub

  pubsub.addEventListener('subscription-change', (evt) => {
    const { peerId, subscriptions } = evt.detail
    for (const sub of subscriptions) {
      if (sub.topic === topic && sub.subscribe) {
        out({ event: 'subscribed', peer: peerId.toString() })
      }
    }
  })

  pubsub.addEventListener('message', (evt) => {
    const msg = evt.detail
    if (msg.topic !== topic) return
    out({
      event: 'message',
      from: msg.type === 'signed' ? msg.from.toString() : null,
      seqno: msg.type === 'signed' ? msg.sequenceNumber.toString() : null,
      data: Buffer.from(msg.data).toString('hex')
    })
  })

  let meshSize = -1
  setInterval(() => {
    const n = pubsub.getMeshPeers(topic).length
    if (n !== meshSize) {
      meshSize = n
      out({ event: 'mesh', peers: n })
    }
  }, MESH_POLL_MS).unref()

  pubsub.subscribe(topic)

  for (const addr of node.getMultiaddrs()) {
    out({ event: 'listening', addr: addr.toString() })
  }
  for (const addr of dialAddrs) {
    await node.dial(multiaddr(addr))
  }
  out({ event: 'ready', peer: node.peerId.toString() })

  const lines = createInterface({ input: process.stdin, terminal: false })
  lines.on('close', () => shutdown(0))
  for await (const line of lines) {
    const [cmd, arg, ...rest] = line.trim().split(/\s+/)
    if (cmd === '') continue
    if (cmd === 'quit' && arg == null) {
      await shutdown(0)
    } else if (cmd === 'publish' && arg != null && rest.length === 0) {
      const data = Buffer.from(arg, 'hex')
      if (data.toString('hex') !== arg) {
        out({ event: 'error', message: `not lowercase hex: ${arg}` })
        continue
      }
      try {
        const { recipients } = await pubsub.publish(topic, data)
        out({ event: 'published', recipients: recipients.length })
      } catch (err) {
        out({ event: 'error', message: errorMessage(err) })
      }
    } else {
      fail(new Error(`unknown command: ${line}`))
    }
  }
}
