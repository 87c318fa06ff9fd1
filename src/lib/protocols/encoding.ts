import { promisify } from 'node:util'
import { gunzip, inflate } from 'node:zlib'
import { RequestInvalidError, RequestTooLargeError } from '../errors.ts'

/**
 * Request bodies as sent: `Content-Encoding: gzip` or `deflate` (the OpenTelemetry Collector gzips by
 * default), and snappy block compression (Loki's protobuf push). Every decoder stops at `maxBytes` of
 * output, so a small compressed body cannot expand into gigabytes.
 */

const gunzipAsync = promisify(gunzip) as (buffer: Uint8Array, options: { maxOutputLength: number }) => Promise<Buffer>
const inflateAsync = promisify(inflate) as (buffer: Uint8Array, options: { maxOutputLength: number }) => Promise<Buffer>

export async function decodeContentEncoding(body: Uint8Array, encoding: string | null, maxBytes: number): Promise<Uint8Array> {
  const name = (encoding ?? '').trim().toLowerCase()
  if (name === '' || name === 'identity') return body
  const decode = name === 'gzip' || name === 'x-gzip' ? gunzipAsync : name === 'deflate' ? inflateAsync : undefined
  if (!decode) throw new RequestInvalidError(`Content-Encoding "${encoding}" is not supported; use gzip, deflate or none`)
  try {
    return await decode(body, { maxOutputLength: maxBytes })
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw new RequestTooLargeError(`the ${name}-decoded body is larger than the limit of ${maxBytes} bytes`)
    throw new RequestInvalidError(`the body is not valid ${name}: ${(error as Error).message}`)
  }
}

function varint(input: Uint8Array): { value: number; next: number } {
  let value = 0
  for (let i = 0, shift = 0; i < 5 && i < input.length; i++, shift += 7) {
    const byte = input[i]!
    value += (byte & 0x7f) * 2 ** shift
    if (byte < 0x80) return { value, next: i + 1 }
  }
  throw new RequestInvalidError('not snappy: the length prefix is malformed')
}

/**
 * Snappy's block format (not the framed one): a varint of the decoded length, then literals and copies.
 * The declared length is checked against `maxBytes`, and handed to `hold` (which may refuse it), before
 * anything is allocated.
 */
export function snappyDecode(input: Uint8Array, maxBytes: number, hold: (bytes: number) => void = () => {}): Uint8Array {
  const { value: length, next } = varint(input)
  if (length > maxBytes) throw new RequestTooLargeError(`the snappy-decoded body would be ${length} bytes; the limit is ${maxBytes}`)
  hold(length)
  const out = new Uint8Array(length)
  let pos = next
  let written = 0
  const corrupt = () => new RequestInvalidError('not valid snappy (block format) data')
  while (pos < input.length) {
    const tag = input[pos++]!
    const kind = tag & 3
    if (kind === 0) {
      let size = tag >>> 2
      if (size >= 60) {
        const extra = size - 59
        if (pos + extra > input.length) throw corrupt()
        size = 0
        for (let i = 0; i < extra; i++) size += input[pos + i]! * 2 ** (8 * i)
        pos += extra
      }
      size += 1
      if (pos + size > input.length || written + size > length) throw corrupt()
      out.set(input.subarray(pos, pos + size), written)
      pos += size
      written += size
      continue
    }
    let size: number
    let offset: number
    if (kind === 1) {
      if (pos + 1 > input.length) throw corrupt()
      size = ((tag >>> 2) & 7) + 4
      offset = ((tag >>> 5) << 8) | input[pos++]!
    } else {
      const bytes = kind === 2 ? 2 : 4
      if (pos + bytes > input.length) throw corrupt()
      size = (tag >>> 2) + 1
      offset = 0
      for (let i = 0; i < bytes; i++) offset += input[pos + i]! * 2 ** (8 * i)
      pos += bytes
    }
    if (offset === 0 || offset > written || written + size > length) throw corrupt()
    // Copies may overlap their own output (a run), so byte by byte.
    for (let i = 0; i < size; i++, written++) out[written] = out[written - offset]!
  }
  if (written !== length) throw corrupt()
  return out
}
