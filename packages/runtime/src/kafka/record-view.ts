/**
 * Record views: with `recordViews: true` (seg's kafkajs patch), a consumer hands over records
 * without headers as views of the fetched bytes instead of kafkajs's messages with a Buffer per key
 * and value and a string per offset and timestamp. The fields kafkajs gives are still there, made
 * on demand; the fast paths read the value where it lies and forward it without a copy of its own.
 */
import type { KafkaMessage, KafkaRecordView } from "kafkajs";

export type { KafkaRecordView };

/** The message as a record view, or undefined when it is one of kafkajs's plain messages. */
export function recordView(message: object): KafkaRecordView | undefined {
  return typeof (message as Partial<KafkaRecordView>).offsetNumber === "number" ? (message as KafkaRecordView) : undefined;
}

/** Where a message's value lies: `bytes` from `start` to `end` (`null` value: bytes undefined). */
export interface ValueRange {
  bytes: Buffer | undefined;
  start: number;
  end: number;
}

/** Fills `out` with where the value of `message` (a record view or a plain message) lies. */
export function valueRange(message: Pick<KafkaMessage, "value">, out: ValueRange): ValueRange {
  const view = recordView(message);
  if (view !== undefined) {
    out.bytes = view.valueLength < 0 ? undefined : view.bytes;
    out.start = view.valueStart;
    out.end = view.valueStart + Math.max(0, view.valueLength);
  } else {
    const value = message.value;
    out.bytes = value ?? undefined;
    out.start = 0;
    out.end = value?.length ?? 0;
  }
  return out;
}
