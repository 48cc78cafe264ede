/**
 * Test fixture for the engine tests: a profile and two event sources with hand-picked edge cases,
 * evaluated as of 2026-11-01T00:00:00Z. Expected values in the tests are computed by hand from
 * the rows below.
 */
import * as B from "./emit-builder.js";

export const AS_OF = "2026-11-01T00:00:00Z";

export const customer = B.source("customer", "profile", {
  customer_id: "string",
  country: "string",
  email: "string?",
  sms_opt_in: "boolean?",
  birth_year: "integer?",
  signup_time: "timestamp",
  'a"b': "string?",
  "a`b": "string?",
});

/** The time field is nullable here on purpose: events with a null time must never count. */
export const purchase = B.source("purchase", "event", {
  customer_id: "string",
  ts: "timestamp?",
  amount: "number?",
  coupon: "string?",
  qty: "integer?",
});

export const pageView = B.source("page_view", "event", { customer_id: "string", ts: "timestamp", url: "string" });

export const customers = [
  { customer_id: "c1", country: "US", email: "a@x.com", sms_opt_in: true, birth_year: 1980, signup_time: "2026-10-18T00:00:00Z", 'a"b': "quote", "a`b": "tick" },
  { customer_id: "c2", country: "CA", email: null, sms_opt_in: null, birth_year: null, signup_time: "2026-10-18T00:00:00.001Z", 'a"b': null, "a`b": "x" },
  { customer_id: "c3", country: "DE", email: "Shop@Example.COM", sms_opt_in: false, birth_year: 2000, signup_time: "2020-01-01T00:00:00Z" },
  { customer_id: "c4", country: "FR", email: "o'neill\\path\n🎉", sms_opt_in: null, birth_year: 1990, signup_time: "2026-11-02T00:00:00Z" },
  { customer_id: "c5", country: "'); DROP TABLE x; --", email: "naïve", sms_opt_in: true, birth_year: 1950, signup_time: "2025-01-01T00:00:00Z" },
];

export const purchases = [
  // c1: exactly at as_of (in), exactly 30 days before (out of "last 30", in "60..30 ago"),
  // 1 ms inside 30 days, after as_of (never), null time (never), exactly 60 days before.
  { customer_id: "c1", ts: "2026-11-01T00:00:00Z", amount: 100, coupon: "FALL10", qty: 1 },
  { customer_id: "c1", ts: "2026-10-02T00:00:00Z", amount: 50, coupon: null, qty: 2 },
  { customer_id: "c1", ts: "2026-10-02T00:00:00.001Z", amount: 25, coupon: "X", qty: 3 },
  { customer_id: "c1", ts: "2026-11-01T00:00:00.001Z", amount: 1000, coupon: "LATE", qty: 10 },
  { customer_id: "c1", ts: null, amount: 500, coupon: "NULLTIME", qty: 5 },
  { customer_id: "c1", ts: "2026-09-02T00:00:00Z", amount: 7, coupon: null, qty: 1 },
  // c2: an offset time (10:00Z), a null amount, a null qty
  { customer_id: "c2", ts: "2026-10-20T12:00:00+02:00", amount: null, coupon: "WELCOME10", qty: 4 },
  { customer_id: "c2", ts: "2026-10-15T00:00:00Z", amount: 10, coupon: "WELCOME5", qty: null },
  // c4: only after as_of
  { customer_id: "c4", ts: "2026-12-01T00:00:00Z", amount: 10, coupon: null, qty: 1 },
  // zz: not in the profile (ignored with a profile universe)
  { customer_id: "zz", ts: "2026-10-30T00:00:00Z", amount: 999, coupon: null, qty: 1 },
];

export const pageViews = [
  { customer_id: "c1", ts: "2026-10-31T00:00:00Z", url: "https://shop.example/a?x=1" },
  { customer_id: "pv_only", ts: "2026-10-01T00:00:00Z", url: "/" },
  { customer_id: "future_only", ts: "2026-11-05T00:00:00Z", url: "/" },
  // exactly 30 days before as_of (out of "last 30 days") and one microsecond later (in)
  { customer_id: "c3", ts: "2026-10-02T00:00:00Z", url: "/boundary" },
  { customer_id: "c5", ts: "2026-10-02T00:00:00.000001Z", url: "/boundary+1us" },
];

export const toJsonl = (rows: object[]): string => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
