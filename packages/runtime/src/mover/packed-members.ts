/**
 * A run's members as ready-made Redis protocol (RESP) arguments: the HSET arguments for its staged
 * metrics hash (`$len\r\nid\r\n$len\r\nmetrics\r\n` per member) and the SADD arguments for its
 * new-members set (`$len\r\nid\r\n`), written straight from the message bytes by the fast parser:
 * no string and no argument object per member, and Redis parses native HSET and SADD commands (no
 * Lua). RESP is length-prefixed, so any entity id goes (newlines too). Every `chunkMembers`
 * members a cut is noted, so a flush sends commands of that many members without looking for them.
 */
import type { Command } from "ioredis";

/**
 * Copies `src[start, end)` into `out` at `at`; returns the end offset. Short runs byte by byte:
 * Buffer#copy makes a view object per call, which cost more than the copy itself for the few
 * bytes of an id or a metrics number.
 */
export function copyBytes(src: Buffer, start: number, end: number, out: Buffer, at: number): number {
  if (end - start >= 48) return at + src.copy(out, at, start, end);
  for (let i = start; i < end; i++) out[at++] = src[i]!;
  return at;
}

const CRLF_1 = 0x0d;
const CRLF_2 = 0x0a;
const DOLLAR = 0x24;

/** A growing byte buffer of RESP bulk strings. */
class RespArgs {
  buf: Buffer;
  len = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  /** Room for `n` more bytes. */
  private reserve(n: number): Buffer {
    if (this.len + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.len + n, this.buf.length * 2));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    return this.buf;
  }

  /** `$<n>\r\n`, reserving room for the n bytes and the CRLF that follow. */
  private head(n: number): Buffer {
    const buf = this.reserve(n + 16);
    let at = this.len;
    buf[at++] = DOLLAR;
    if (n < 10) buf[at++] = 0x30 + n;
    else if (n < 100) {
      buf[at++] = 0x30 + ((n / 10) | 0);
      buf[at++] = 0x30 + (n % 10);
    } else at += buf.write(String(n), at, "latin1");
    buf[at++] = CRLF_1;
    buf[at++] = CRLF_2;
    this.len = at;
    return buf;
  }

  private tail(buf: Buffer): void {
    buf[this.len++] = CRLF_1;
    buf[this.len++] = CRLF_2;
  }

  /** One argument: the bytes `src[start, end)`. */
  bytes(src: Buffer, start: number, end: number): void {
    const buf = this.head(end - start);
    this.len = copyBytes(src, start, end, buf, this.len);
    this.tail(buf);
  }

  /** One argument: `text` as UTF-8. */
  text(text: string): void {
    const n = Buffer.byteLength(text, "utf8");
    const buf = this.head(n);
    this.len += buf.write(text, this.len, "utf8");
    this.tail(buf);
  }
}

/** One command's worth of packed members. */
export interface PackedChunk {
  members: number;
  /** HSET arguments (2 per member). */
  fields: Buffer;
  /** SADD arguments (1 per member). */
  ids: Buffer;
}

/** Members read and not staged yet, packed as HSET and SADD arguments. */
export class PackedMembers {
  private readonly fields: RespArgs;
  private readonly ids: RespArgs;
  /** Members packed. */
  count = 0;
  /** Offsets into `fields` and `ids` after every `chunkMembers`-th member. */
  private readonly cuts: number[] = [];

  constructor(
    readonly chunkMembers: number,
    capacity = 4_096,
  ) {
    this.fields = new RespArgs(capacity);
    this.ids = new RespArgs(Math.max(1_024, capacity >> 2));
  }

  /** Bytes packed (a hint for the next buffer's size). */
  get bytes(): number {
    return this.fields.len;
  }

  /** Packs a member's entity id from `src[start, end)`; its metrics follow ({@link metricsBytes} or {@link metricsText}). */
  idBytes(src: Buffer, start: number, end: number): void {
    this.fields.bytes(src, start, end);
    this.ids.bytes(src, start, end);
  }

  /** The member's metrics JSON from `src[start, end)`; ends the member. */
  metricsBytes(src: Buffer, start: number, end: number): void {
    this.fields.bytes(src, start, end);
    this.endMember();
  }

  /** The member's metrics JSON as text; ends the member. */
  metricsText(metricsJson: string): void {
    this.fields.text(metricsJson);
    this.endMember();
  }

  /** A member given as text. */
  add(entityId: string, metricsJson: string): void {
    this.fields.text(entityId);
    this.ids.text(entityId);
    this.metricsText(metricsJson);
  }

  private endMember(): void {
    if (++this.count % this.chunkMembers === 0) this.cuts.push(this.fields.len, this.ids.len);
  }

  /** The members in chunks of at most `chunkMembers`. */
  chunks(): PackedChunk[] {
    const out: PackedChunk[] = [];
    let f = 0;
    let i = 0;
    for (let c = 0; c < this.cuts.length; c += 2) {
      out.push({ members: this.chunkMembers, fields: this.fields.buf.subarray(f, this.cuts[c]!), ids: this.ids.buf.subarray(i, this.cuts[c + 1]!) });
      f = this.cuts[c]!;
      i = this.cuts[c + 1]!;
    }
    const rest = this.count % this.chunkMembers;
    if (rest > 0) out.push({ members: rest, fields: this.fields.buf.subarray(f, this.fields.len), ids: this.ids.buf.subarray(i, this.ids.len) });
    return out;
  }
}

/**
 * A Redis command `name key <args>` whose arguments are already RESP (`argc` of them), sent as
 * they are through ioredis's queue (so its reply, errors and reconnects work as for any command).
 * `CommandClass` is ioredis's `Command` (imported by the caller: this module does not load ioredis).
 */
export function respCommand(CommandClass: typeof Command, name: string, key: string, argc: number, args: Buffer): Command {
  const command = new CommandClass(name, [key]);
  const wire = Buffer.concat([Buffer.from(`*${argc + 2}\r\n$${name.length}\r\n${name}\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n`, "utf8"), args]);
  command.toWritable = () => wire;
  return command;
}
