/**
 * Dead letters as the UTF-8 bytes of `JSON.stringify(letter)`, written piece by piece: the raw
 * value, when it is plain printable ASCII (the usual invalid event: JSON text, whose quotes are the
 * only characters to escape), is escaped byte by byte, and the JSON of the fields around it, which
 * mostly recur (topic and partition; schema, reason, path and message, the same for every event
 * with the same problem; the clock's text, the same within a millisecond), is kept as bytes for the
 * next letters. Byte for byte what `Buffer.from(JSON.stringify(letter))` gives (property-tested).
 */
import type { DeadLetterMessage } from "../contracts/messages.js";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** Bytes per slab that dead letters are cut from. */
const SLAB_BYTES = 256 * 1024;
/** Most kept pieces (of each kind) before they are all dropped. */
const MAX_KEPT = 256;

/** Writes dead letters as bytes (one per ingester: it keeps the recurring pieces). */
export class DeadLetterWriter {
  /** `{"topic":…,"partition":…,"offset":"` by topic (for the partition kept with it). */
  private readonly heads = new Map<string, { partition: number; bytes: Buffer }>();
  /** `","schema":…,"reason":…,"path":…,"message":…,"value":"` by message (for the fields kept with it). */
  private readonly middles = new Map<string, { schema: string | null; reason: string; path: string | null; bytes: Buffer }>();
  /** `","receivedAt":…}` of the last clock text. */
  private tailText = "";
  private tail = Buffer.alloc(0);
  /** Where letters are cut from (Node's own pool is 8 KiB: a new one every ~16 letters cost more than writing them). */
  private slab = Buffer.alloc(0);
  private slabUsed = 0;

  /**
   * The dead letter's JSON as bytes. `raw` is the value `letter.value` was decoded from (see
   * `deadLetterValue`); when it is printable ASCII and was not cut, its bytes are escaped straight
   * into the result.
   */
  bytes(letter: DeadLetterMessage, raw: Buffer | null): Buffer {
    const quotes = raw !== null && raw.length === letter.value.length ? plainQuotes(raw) : -1;
    const offset = letter.offset;
    if (quotes < 0 || !isDigits(offset)) return Buffer.from(JSON.stringify(letter));
    // The properties in the letter's order, as JSON.stringify writes them.
    const { topic, partition, schema, reason, path, message } = letter;
    let head = this.heads.get(topic);
    if (head === undefined || !Object.is(head.partition, partition)) {
      head = { partition, bytes: Buffer.from(`{"topic":${JSON.stringify(topic)},"partition":${JSON.stringify(partition)},"offset":"`) };
      if (this.heads.size >= MAX_KEPT) this.heads.clear();
      this.heads.set(topic, head);
    }
    let middle = this.middles.get(message);
    if (middle === undefined || middle.schema !== schema || middle.reason !== reason || middle.path !== path) {
      const text = `","schema":${JSON.stringify(schema)},"reason":${JSON.stringify(reason)},"path":${JSON.stringify(path)},"message":${JSON.stringify(message)},"value":"`;
      middle = { schema, reason, path, bytes: Buffer.from(text) };
      if (this.middles.size >= MAX_KEPT) this.middles.clear();
      this.middles.set(message, middle);
    }
    if (letter.receivedAt !== this.tailText) {
      this.tailText = letter.receivedAt;
      this.tail = Buffer.from(`","receivedAt":${JSON.stringify(letter.receivedAt)}}`);
    }
    const h = head.bytes;
    const m = middle.bytes;
    const tail = this.tail;
    const n = raw!.length;
    const out = this.allocate(h.length + offset.length + m.length + n + quotes + tail.length);
    out.set(h, 0);
    let pos = h.length;
    for (let i = 0; i < offset.length; i++) out[pos++] = offset.charCodeAt(i);
    out.set(m, pos);
    pos += m.length;
    for (let i = 0; i < n; i++) {
      const c = raw![i]!;
      if (c === QUOTE) out[pos++] = BACKSLASH;
      out[pos++] = c;
    }
    out.set(tail, pos);
    return out;
  }

  /** `size` bytes (not zeroed) cut from the current slab, or a buffer of their own when large. */
  private allocate(size: number): Buffer {
    if (size > SLAB_BYTES / 8) return Buffer.allocUnsafeSlow(size);
    if (this.slabUsed + size > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.slabUsed = 0;
    }
    const out = this.slab.subarray(this.slabUsed, this.slabUsed + size);
    // 8-byte aligned, as Node's pool does.
    this.slabUsed = (this.slabUsed + size + 7) & ~7;
    return out;
  }
}

/** True for a non-empty string of ASCII digits (an offset: its JSON is itself in quotes). */
function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** The number of quotes in `b` when every byte is printable ASCII other than a backslash; else -1. */
function plainQuotes(b: Buffer): number {
  let quotes = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c < 0x20 || c > 0x7e || c === BACKSLASH) return -1;
    if (c === QUOTE) quotes++;
  }
  return quotes;
}
