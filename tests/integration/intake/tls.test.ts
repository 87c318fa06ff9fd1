import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { freePort } from '../../../scripts/services.ts'
import { createKey } from '../../../src/lib/auth/key-store.ts'
import { eventually, freshDatabase, freshTopics } from '../../support/infra.ts'

/**
 * `bun src/ingest.ts` as a process with a self-signed certificate (TLS_CERT_FILE/TLS_KEY_FILE) and
 * LOGSTREAM_AUTH=required: `bun src/send.ts --tls --ca CERT --key KEY` is accepted, a plaintext client and a
 * client that does not trust the certificate fail, and so does a call without a key; the HTTP intake serves
 * TLS too. Also: with keys off on a non-loopback address the service refuses to start.
 */

setDefaultTimeout(60_000)
const ROOT = `${import.meta.dir}/../../..`
const dir = mkdtempSync(`${tmpdir()}/logstream-tls-`)
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const cert = `${dir}/cert.pem`
const keyFile = `${dir}/key.pem`
const openssl = Bun.spawnSync(
  [
    'openssl',
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-days',
    '1',
    '-keyout',
    keyFile,
    '-out',
    cert,
  ],
  { stderr: 'pipe' },
)
if (openssl.exitCode !== 0) throw new Error(`openssl could not make a certificate (install openssl): ${openssl.stderr.toString()}`)

const db = await freshDatabase({ partitions: false })
const topics = await freshTopics({ databaseUrl: db.url })
const { key } = await createKey(db.sql, { name: 'tls-sender', scope: 'ingest' })
const ports = { grpc: freePort(), otlp: freePort(), http: freePort() }
const addr = `127.0.0.1:${ports.grpc}`

const env = (extra: Record<string, string>) => ({
  ...process.env,
  LOG_LEVEL: 'debug',
  DATABASE_URL: db.url,
  KAFKA_BROKERS: topics.kafka.brokers.join(','),
  KAFKA_TOPIC: topics.kafka.topic,
  KAFKA_DLQ_TOPIC: topics.kafka.dlqTopic,
  GRPC_HOST: '127.0.0.1',
  GRPC_PORT: String(ports.grpc),
  OTLP_GRPC_PORT: String(ports.otlp),
  INGEST_HTTP_PORT: String(ports.http),
  ...extra,
})

/** The service's output, read as it comes (a full pipe would block it). */
function collect(stream: ReadableStream<Uint8Array>): { text: () => string; done: Promise<void> } {
  let text = ''
  const decoder = new TextDecoder()
  const done = (async () => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true })
  })()
  return { text: () => text, done }
}

const ingest = Bun.spawn([process.execPath, 'src/ingest.ts'], {
  cwd: ROOT,
  env: env({ LOGSTREAM_AUTH: 'required', TLS_CERT_FILE: cert, TLS_KEY_FILE: keyFile }),
  stdout: 'pipe',
  stderr: 'pipe',
})
const output = collect(ingest.stdout)
const errors = collect(ingest.stderr)
afterAll(async () => {
  ingest.kill('SIGTERM')
  await ingest.exited
})

async function send(args: string[], extraEnv: Record<string, string> = {}) {
  const child = Bun.spawn([process.execPath, 'src/send.ts', '--addr', addr, '--timeout', '5000', '--retries', '0', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...extraEnv },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { code, stdout, stderr }
}

await eventually(async () => ((await send(['--tls', '--ca', cert, '--health'])).code === 0 ? true : undefined), 30_000, `ingest serving TLS on ${addr}`)

describe('gRPC over TLS with a key', () => {
  test('send --tls --ca CERT --key KEY is accepted, and so is LOGSTREAM_KEY', async () => {
    const sent = await send(['--tls', '--ca', cert, '--key', key, 'hello'])
    expect(sent).toMatchObject({ code: 0, stderr: '' })
    expect(sent.stdout).toContain('1 accepted')
    const fromEnv = await send(['--tls', '--ca', cert, 'hello from env'], { LOGSTREAM_KEY: key })
    expect(fromEnv.stdout).toContain('1 accepted')
    // Never printed.
    expect(sent.stdout + sent.stderr + fromEnv.stdout + fromEnv.stderr).not.toContain(key)
  })

  test('a plaintext client fails; so does a TLS client that does not trust the certificate; so does a call without a key', async () => {
    const plaintext = await send(['--key', key, 'plain'])
    expect(plaintext.code).toBe(1)
    expect(plaintext.stderr).toContain('UNAVAILABLE')
    const untrusted = await send(['--tls', '--key', key, 'untrusted'])
    expect(untrusted.code).toBe(1)
    expect(untrusted.stderr).toContain('UNAVAILABLE')
    const anonymous = await send(['--tls', '--ca', cert, 'anonymous'])
    expect(anonymous.code).toBe(1)
    expect(anonymous.stderr).toContain('UNAUTHENTICATED')
  })
})

describe('the HTTP intake over TLS', () => {
  test('https with the certificate trusted and a key is accepted; plain http is not answered', async () => {
    const body = `${JSON.stringify({ message: 'over https', service: 'tls-http' })}\n`
    const response = await fetch(`https://127.0.0.1:${ports.http}/jsonlines`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${key}` },
      tls: { ca: readFileSync(cert, 'utf8') },
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ accepted: 1 })
    const plain = await fetch(`http://127.0.0.1:${ports.http}/jsonlines`, { method: 'POST', body }).then(
      (answer) => answer.status,
      () => 'refused',
    )
    expect(plain).not.toBe(200)
  })
})

test('the service says at start that keys are required, and never logs a key', async () => {
  expect(output.text()).toContain('"ingest.auth"')
  expect(output.text()).toContain('"keys":"required"')
  expect(output.text()).toContain('"tls":true')
  expect(output.text() + errors.text()).not.toContain(key)
})

test('keys off on an address other machines can reach: the service refuses to start', async () => {
  const open = Bun.spawn([process.execPath, 'src/ingest.ts'], {
    cwd: ROOT,
    env: env({
      LOGSTREAM_AUTH: 'off',
      GRPC_HOST: '0.0.0.0',
      GRPC_PORT: String(freePort()),
      OTLP_GRPC_PORT: String(freePort()),
      INGEST_HTTP_PORT: String(freePort()),
    }),
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, code] = await Promise.all([new Response(open.stdout).text(), open.exited])
  expect(code).toBe(1)
  expect(stdout).toContain('startup.failed')
  expect(stdout).toContain('LOGSTREAM_AUTH')
})
