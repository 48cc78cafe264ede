/**
 * The shared metrics of the semantics fixture: one per kind of value a metric carries (sums,
 * counts, timestamps, averages, booleans, text, a ratio, days, an awkward name and text, an
 * overflow) over the engine fixture's customers. The compiler's engine-semantics test checks
 * their values on DuckDB against hand-computed ones; the runtime's spark-semantics test checks that
 * Spark gives the same values as DuckDB, so both engines are held to the same metrics.
 */
import type { MetricIR } from "../../src/ir.js";
import * as B from "../unit/emit-builder.js";
import { avg30, count30, firstSeen, lastSeen, qty30, sum30 } from "./semantics-cases.js";

const { aggRef: a, attr, str, num } = B;
const C = (f: string, t: string) => attr("customer", f, t);

/** The metrics, in declaration order (members carry them in this order). */
export const semanticsMetrics: MetricIR[] = [
  B.metric("total", a(sum30)),
  B.metric("qty", a(qty30)),
  B.metric("last", a(lastSeen)),
  B.metric("first", a(firstSeen)),
  B.metric("avg", a(avg30)),
  B.metric("sms", C("sms_opt_in", "boolean?")),
  B.metric("country", C("country", "string")),
  B.metric("ratio", B.op("div", [a(sum30), a(count30)])),
  B.metric("days", B.call("days_since", [a(lastSeen)], "number?")),
  B.metric(`a"b 'c'`, str("'); DROP TABLE x; --\n\\ é")),
  B.metric("big", B.gt(a(sum30), num(100))),
  B.metric("overflow", B.op("mul", [a(sum30), num(1e308)])),
];
