/**
 * Classifying one raw event: valid (and where it goes, with which key and timestamp) or a dead
 * letter (with the reason, the field path and a readable message). Pure and synchronous: no Kafka,
 * no database, so every rule is unit-tested on its own.
 *
 * Checks, in order: size (`too-large`), a schema for the topic (`unknown-topic`), UTF-8 and JSON
 * syntax (`malformed-json`, see `json-syntax.ts`), the schema's validator (`schema`, with the JSON
 * pointer of the first problem).
 *
 * Most valid events take a fast path (`fast-validate.ts`: the bytes checked against the schema
 * without `JSON.parse`), and so do events whose one problem is a string outside an `enum`; whatever
 * it cannot vouch for takes the full path above. One fast-path event in {@link AUDIT_EVERY} (of
 * each kind) is also classified the full way: should they ever disagree, the topic's fast path is
 * switched off and the full path's answer is used.
 */
import { isUtf8 } from "node:buffer";
import { describeAjvError, pointerLabel, selectAjvProblems, type SchemaRegistry, type SegSchema } from "@seg/compiler";
import { MAX_DEAD_LETTER_VALUE, validTopic, type DeadLetterMessage } from "../contracts/messages.js";
import { valueRange, type ValueRange } from "../kafka/record-view.js";
import { FastValidator, type EnumMiss, type FastFields } from "./fast-validate.js";
import { jsonSyntaxError } from "./json-syntax.js";

/** Raw values longer than this many bytes are dead letters with reason `too-large` (1 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

/** Why an event was not valid. */
export type DeadLetterReason = DeadLetterMessage["reason"];

/** The reasons, in the order the checks run. */
export const DEAD_LETTER_REASONS: readonly DeadLetterReason[] = Object.freeze(["too-large", "unknown-topic", "malformed-json", "schema"]);

/** A schema's validator: a function compiled once per schema version (content hash). */
type Validator = SegSchema["validate"];

/** One raw topic: the schemas its events are checked against and the topic valid ones go to. */
export interface IngestRoute {
  rawTopic: string;
  validTopic: string;
  /** Usually one. When several schemas share a topic, an event is valid when one of them accepts it. */
  schemas: readonly SegSchema[];
}

/** A raw message as read from Kafka (the fields classification needs). */
export interface RawEvent {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  /** Kafka timestamp, milliseconds since the epoch as a decimal string. */
  timestamp: string;
}

/** A raw message of a known topic and partition (a kafkajs message fits). */
export type RawMessage = Pick<RawEvent, "offset" | "key" | "value" | "timestamp">;

/** A valid event: produce `value` unchanged to `topic` with this key and timestamp. */
export interface ValidEvent {
  kind: "valid";
  schema: SegSchema;
  topic: string;
  /** The entity id (the schema's key field), as text. */
  key: string;
  /** Kafka timestamp of the copy: the event's time field when it has one, else the raw timestamp. */
  timestamp: string;
  /** The event time in ms, for events (undefined for profiles). */
  eventTimeMs: number | undefined;
}

/**
 * Where a valid event goes, as {@link EventClassifier.classifyInto} fills it: one object, reused
 * for every event (nothing allocated per event beyond the key).
 */
export interface Forward {
  schema: SegSchema;
  topic: string;
  /** The entity id (the schema's key field), as text. */
  key: string;
  /**
   * Kafka timestamp of the copy: the event time in ms when it has one (not before the epoch), else
   * the raw timestamp as read (decimal text).
   */
  timestamp: number | string;
  /** The event time in ms, for events (undefined for profiles). */
  eventTimeMs: number | undefined;
}

/** An invalid event and its dead letter. */
export interface InvalidEvent {
  kind: "invalid";
  letter: DeadLetterMessage;
}

export type Classified = ValidEvent | InvalidEvent;

/** Options for {@link EventClassifier}. */
export interface ClassifierOptions {
  /** Values over this many bytes are `too-large` (default {@link DEFAULT_MAX_MESSAGE_BYTES}). */
  maxMessageBytes?: number;
  /** The clock for `receivedAt` (tests). */
  now?: () => Date;
  /** Use the fast path where a schema allows it (default true; tests compare both paths). */
  fastPath?: boolean;
}

/**
 * Validators by schema content hash, shared by every classifier in the process: a schema version
 * is compiled once (by the registry) and its function reused, even when the registry is rebuilt.
 */
const validators = new Map<string, Validator>();

/** Fast checks by schema content hash (undefined: the schema has none). */
const fastValidators = new Map<string, FastValidator | undefined>();

function fastValidatorOf(schema: SegSchema): FastValidator | undefined {
  if (!fastValidators.has(schema.hash)) {
    fastValidators.set(schema.hash, FastValidator.compile(schema.raw, schema.key, schema.kind === "event" ? schema.time : undefined));
  }
  return fastValidators.get(schema.hash);
}

/** One fast-valid event in this many is checked again on the full path (a power of two). */
export const AUDIT_EVERY = 1024;

function validatorOf(schema: SegSchema): Validator {
  let v = validators.get(schema.hash);
  if (v === undefined) {
    v = schema.validate;
    validators.set(schema.hash, v);
  }
  return v;
}

/** The routes of a registry: one per distinct topic of its event and profile schemas. */
export function ingestRoutes(registry: SchemaRegistry): Map<string, IngestRoute> {
  const byTopic = new Map<string, SegSchema[]>();
  for (const schema of registry.schemas) {
    const list = byTopic.get(schema.topic);
    if (list) list.push(schema);
    else byTopic.set(schema.topic, [schema]);
  }
  const routes = new Map<string, IngestRoute>();
  for (const [topic, schemas] of byTopic) routes.set(topic, { rawTopic: topic, validTopic: validTopic(topic), schemas });
  return routes;
}

/** `text` cut to at most `max` UTF-16 units, never between the two halves of a surrogate pair. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return text.slice(0, end);
}

/** The raw value as dead-letter text: UTF-8 (invalid bytes replaced), cut to `MAX_DEAD_LETTER_VALUE`. */
export function deadLetterValue(value: Buffer | null): string {
  if (value === null) return "";
  // Four bytes per character at most: decoding more than that could never be kept.
  const head = value.length > MAX_DEAD_LETTER_VALUE * 4 ? value.subarray(0, MAX_DEAD_LETTER_VALUE * 4) : value;
  return cutText(head.toString("utf8"), MAX_DEAD_LETTER_VALUE);
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(n % (1024 * 1024) === 0 ? 0 : 2)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(n % 1024 === 0 ? 0 : 2)} KiB`;
  return `${n} bytes`;
}

/** One raw topic as the classifier sees it. */
interface TopicState {
  candidates: { schema: SegSchema; validate: Validator }[];
  firstSchema: string | null;
  validTopic: string;
  /** The fast check of the topic's first schema (an event valid for it is classified as it); undefined once switched off. */
  fast: FastValidator | undefined;
}

/** Classifies raw events against a registry's schemas. */
export class EventClassifier {
  readonly routes: ReadonlyMap<string, IngestRoute>;
  readonly maxMessageBytes: number;
  /** The clock in ms (`Date.now` unless a clock was given: no Date per dead letter). */
  private readonly nowMs: () => number;
  /** What classifying an event of each topic needs (one lookup per event). */
  private readonly topics: Map<string, TopicState>;
  private readonly fields: FastFields = { key: "", time: undefined, timeMs: Number.NaN };
  /** Where the value being classified lies (reused). */
  private readonly range: ValueRange = { bytes: undefined, start: 0, end: 0 };
  /** `classifyMessage`'s and the audit's {@link Forward}. */
  private readonly scratch: Forward;
  private readonly audit: Forward;
  private fastValid = 0;
  private fastInvalid = 0;
  private readonly enumProblems = new Map<EnumMiss, [path: string, message: string]>();
  private lastNowMs = Number.NaN;
  private lastNowText = "";
  /** Topics whose fast path disagreed with the full path and was switched off (should stay empty). */
  readonly fastPathOff = new Set<string>();

  constructor(registry: SchemaRegistry, options: ClassifierOptions = {}) {
    this.routes = ingestRoutes(registry);
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (!(this.maxMessageBytes > 0)) throw new RangeError(`maxMessageBytes must be positive, got ${this.maxMessageBytes}`);
    const now = options.now;
    this.nowMs = now ? () => now().getTime() : Date.now;
    const fastPath = options.fastPath ?? true;
    this.topics = new Map(
      [...this.routes].map(([topic, r]) => {
        const candidates = r.schemas.map((schema) => ({ schema, validate: validatorOf(schema) }));
        const fast = fastPath && r.schemas[0] ? fastValidatorOf(r.schemas[0]) : undefined;
        return [topic, { candidates, firstSchema: candidates[0]?.schema.name ?? null, validTopic: r.validTopic, fast }];
      }),
    );
    const blank = (): Forward => ({ schema: undefined as unknown as SegSchema, topic: "", key: "", timestamp: "", eventTimeMs: undefined });
    this.scratch = blank();
    this.audit = blank();
  }

  /** True when the topic's events can take the fast path. */
  hasFastPath(topic: string): boolean {
    return this.topics.get(topic)?.fast !== undefined;
  }

  /** Classifies one raw event. Never throws. */
  classify(event: RawEvent): Classified {
    return this.classifyMessage(event.topic, event.partition, event);
  }

  /** Classifies one raw message of `topic` and `partition` (no event object to build). Never throws. */
  classifyMessage(topic: string, partition: number, event: RawMessage): Classified {
    const out = this.scratch;
    const invalid = this.classifyInto(topic, partition, event, out);
    if (invalid !== undefined) return invalid;
    return { kind: "valid", schema: out.schema, topic: out.topic, key: out.key, timestamp: String(out.timestamp), eventTimeMs: out.eventTimeMs };
  }

  /**
   * {@link classifyMessage} without a result object for valid events: undefined when the event is
   * valid (and `out` says where it goes), else the invalid event. Never throws.
   */
  classifyInto(topic: string, partition: number, event: RawMessage, out: Forward): InvalidEvent | undefined {
    // A record view's value is read where it lies (a Buffer of it only for the full path).
    const range = valueRange(event, this.range);
    const size = range.end - range.start;
    const state = this.topics.get(topic);
    const candidates = state?.candidates;
    const firstSchema = state?.firstSchema ?? null;
    if (size > this.maxMessageBytes) {
      return this.invalid(topic, partition, event, firstSchema, "too-large", null, `the value is ${formatBytes(size)}, over the limit of ${formatBytes(this.maxMessageBytes)}`);
    }
    if (candidates === undefined || candidates.length === 0) {
      return this.invalid(topic, partition, event, null, "unknown-topic", null, `no registered schema reads topic ${topic}`);
    }
    if (range.bytes === undefined || size === 0) return this.invalid(topic, partition, event, firstSchema, "malformed-json", null, "the message has no value");
    const fast = state!.fast;
    const fields = this.fields;
    if (fast !== undefined && fast.checkRange(range.bytes, range.start, range.end, fields)) {
      const schema = candidates[0]!.schema;
      this.forward(out, state!.validTopic, event, schema, fields.key, fields.time, fields.timeMs);
      if ((++this.fastValid & (AUDIT_EVERY - 1)) !== 0) return undefined;
      const audit = this.audit;
      const full = this.classifyFully(topic, partition, event, event.value!, candidates, firstSchema, audit);
      if (full !== undefined || audit.schema !== schema || audit.key !== out.key || audit.timestamp !== out.timestamp || audit.eventTimeMs !== out.eventTimeMs) {
        state!.fast = undefined;
        this.fastPathOff.add(topic);
      }
      if (full !== undefined) return full;
      Object.assign(out, audit);
      return undefined;
    }
    const miss = fields.enumMiss;
    if (miss !== undefined && fast !== undefined && candidates.length === 1) {
      // The event's one problem is a value outside an enum: the letter the full path would write,
      // without JSON.parse and ajv. Audited like fast-valid events.
      const letter = this.invalid(topic, partition, event, firstSchema, "schema", ...this.enumProblem(miss));
      if ((++this.fastInvalid & (AUDIT_EVERY - 1)) !== 0) return letter;
      const full = this.classifyFully(topic, partition, event, event.value!, candidates, firstSchema, out);
      if (full === undefined || full.letter.reason !== "schema" || full.letter.path !== letter.letter.path || full.letter.message !== letter.letter.message) {
        state!.fast = undefined;
        this.fastPathOff.add(topic);
      }
      return full;
    }
    return this.classifyFully(topic, partition, event, event.value!, candidates, firstSchema, out);
  }

  /** The path and message of the ajv error for a value outside `miss.allowed` (one per property, cached). */
  private enumProblem(miss: EnumMiss): [path: string, message: string] {
    let problem = this.enumProblems.get(miss);
    if (problem === undefined) {
      // The error ajv reports for it, described as the full path describes ajv's errors.
      const pointer = `/${miss.property.replaceAll("~", "~0").replaceAll("/", "~1")}`;
      const error = { keyword: "enum", instancePath: pointer, schemaPath: "", params: { allowedValues: miss.allowed } } as Parameters<typeof describeAjvError>[0];
      const p = describeAjvError(error);
      problem = [p.pointer, `${pointerLabel(p.pointer)}: ${p.message}`];
      this.enumProblems.set(miss, problem);
    }
    return problem;
  }

  /** The full path: UTF-8, `JSON.parse`, then each schema's ajv validator (valid: `out` filled, undefined returned). */
  private classifyFully(
    topic: string,
    partition: number,
    event: RawMessage,
    value: Buffer,
    candidates: readonly { schema: SegSchema; validate: Validator }[],
    firstSchema: string | null,
    out: Forward,
  ): InvalidEvent | undefined {
    if (!isUtf8(value)) return this.invalid(topic, partition, event, firstSchema, "malformed-json", null, "the value is not valid UTF-8");
    // Found before JSON.parse, whose SyntaxError costs more than the rest of the dead letter.
    const syntax = jsonSyntaxError(value);
    if (syntax !== undefined) return this.invalid(topic, partition, event, firstSchema, "malformed-json", null, `the value is not valid JSON: ${syntax}`);
    let record: unknown;
    // Still guarded: anything JSON.parse rejects beyond syntax (a RangeError for extreme nesting)
    // is a malformed value too. A stack trace would never be used: not captured.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      record = JSON.parse(value.toString("utf8"));
    } catch (e) {
      return this.invalid(topic, partition, event, firstSchema, "malformed-json", null, `the value is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    let firstProblem: { schema: string; path: string; message: string } | undefined;
    for (const { schema, validate } of candidates) {
      let ok: boolean;
      try {
        ok = validate(record) as boolean;
      } catch (e) {
        firstProblem ??= { schema: schema.name, path: "", message: `the validator failed: ${e instanceof Error ? e.message : String(e)}` };
        continue;
      }
      if (ok) {
        this.valid(out, topic, event, schema, record as Record<string, unknown>);
        return undefined;
      }
      if (firstProblem === undefined) {
        const p = selectAjvProblems(validate.errors)[0];
        firstProblem = p
          ? { schema: schema.name, path: p.pointer, message: `${pointerLabel(p.pointer)}: ${p.message}` }
          : { schema: schema.name, path: "", message: `does not match the ${schema.kind} ${schema.name} schema` };
      }
    }
    const p = firstProblem!;
    return this.invalid(topic, partition, event, p.schema, "schema", p.path, candidates.length > 1 ? `${p.message} (${p.schema}; no schema of the topic accepts it)` : p.message);
  }

  private valid(out: Forward, topic: string, event: RawMessage, schema: SegSchema, record: Record<string, unknown>): void {
    const t = schema.kind === "event" ? record[schema.time] : undefined;
    const k = record[schema.key];
    this.forward(out, this.topics.get(topic)!.validTopic, event, schema, typeof k === "string" ? k : JSON.stringify(k), typeof t === "string" ? t : undefined, Number.NaN);
  }

  /** Fills `out` for a valid event. `timeMs`: the event time already read (the fast path), else NaN and `time` is parsed. */
  private forward(out: Forward, validTopic: string, event: RawMessage, schema: SegSchema, key: string, time: string | undefined, timeMs: number): void {
    let timestamp: number | string | undefined;
    let eventTimeMs: number | undefined;
    if (schema.kind === "event" && (time !== undefined || !Number.isNaN(timeMs))) {
      const ms = Number.isNaN(timeMs) ? Date.parse(time!) : timeMs;
      if (Number.isFinite(ms)) {
        eventTimeMs = ms;
        // Kafka timestamps before the epoch are not allowed (-1 means "none"): keep the raw one.
        if (ms >= 0) timestamp = ms;
      }
    }
    timestamp ??= event.timestamp;
    out.schema = schema;
    out.topic = validTopic;
    out.key = key;
    out.timestamp = timestamp;
    out.eventTimeMs = eventTimeMs;
  }

  /** The clock as ISO text, formatted once per millisecond. */
  private receivedAt(): string {
    const ms = this.nowMs();
    if (ms !== this.lastNowMs) {
      this.lastNowMs = ms;
      this.lastNowText = new Date(ms).toISOString();
    }
    return this.lastNowText;
  }

  private invalid(topic: string, partition: number, event: RawMessage, schema: string | null, reason: DeadLetterReason, path: string | null, message: string): InvalidEvent {
    return {
      kind: "invalid",
      letter: {
        topic,
        partition,
        offset: event.offset,
        schema,
        reason,
        path,
        message,
        value: deadLetterValue(event.value),
        receivedAt: this.receivedAt(),
      },
    };
  }
}
