// Generates the sample data of the example project: customer.jsonl, purchase.jsonl,
// page_view.jsonl and add_to_cart.jsonl, next to this script.
//
//   node examples/data/generate.mjs
//
// Plain Node, no dependencies, deterministic (seeded): running it again writes the same files.
// Everything is relative to the project's default evaluation time AS_OF below. A few customers
// follow a scripted story so that every example rule has members and non-members; the rest get
// random background activity. Deliberate edge cases are marked "EDGE".

import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const AS_OF = Date.parse("2026-11-01T00:00:00Z");
const DAY = 86_400_000;
const HOUR = 3_600_000;
const OUT = dirname(fileURLToPath(import.meta.url));

// --- deterministic randomness (mulberry32) ------------------------------------------------------

let seed = 20261101;
function rand() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const money = (lo, hi) => Math.round((lo + rand() * (hi - lo)) * 100) / 100;

// --- time helpers -------------------------------------------------------------------------------

const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");
/** A time `days` days before AS_OF, at a random second of that day (never after AS_OF - days). */
const ago = (days) => iso(AS_OF - days * DAY - int(60, 20 * HOUR / 1000) * 1000);
/** Exactly `days` days before AS_OF (no random part). */
const exactlyAgo = (days) => iso(AS_OF - days * DAY);

// --- catalogue ----------------------------------------------------------------------------------

const PRODUCTS = [
  { sku: "EL-HEADPHONES-NC700", category: "electronics", price: 249.0, path: "/p/noise-cancelling-headphones" },
  { sku: "EL-LAPTOP-14", category: "electronics", price: 1099.0, path: "/p/laptop-14" },
  { sku: "EL-CHARGER-65W", category: "electronics", price: 39.9, path: "/p/charger-65w" },
  { sku: "EL-SPEAKER-MINI", category: "electronics", price: 59.0, path: "/p/mini-speaker" },
  { sku: "AP-TEE-LOGO-M", category: "apparel", price: 19.5, path: "/p/logo-tee" },
  { sku: "AP-JACKET-RAIN", category: "apparel", price: 129.0, path: "/p/rain-jacket" },
  { sku: "HO-MUG-CAFE-CREME", category: "home", price: 14.0, path: "/p/café-crème-mug" },
  { sku: "HO-LAMP-DESK", category: "home", price: 45.0, path: "/p/desk-lamp" },
  { sku: "BE-SERUM-30ML", category: "beauty", price: 32.0, path: "/p/serum-30ml" },
  { sku: "GR-COFFEE-1KG", category: "grocery", price: 24.0, path: "/p/coffee-beans-1kg" },
  { sku: "TO-BRICKS-CASTLE", category: "toys", price: 79.0, path: "/p/bricks-castle" },
  { sku: "BO-COOKBOOK-CREME", category: "books", price: 28.0, path: "/p/cookbook-crème-brûlée" },
  { sku: 'PO-POSTER-"SEG"-A2', category: "books", price: 12.0, path: '/p/poster-"seg"-a2' },
  { sku: "SP-YOGA-MAT", category: "sports", price: 35.0, path: "/p/yoga-mat" },
];
const product = (sku) => PRODUCTS.find((p) => p.sku === sku);
const CURRENCY = { US: "USD", CA: "CAD", GB: "GBP", IE: "EUR", DE: "EUR", FR: "EUR", NL: "EUR", ES: "EUR", AU: "AUD" };
const REFERRERS = [
  null,
  null,
  "https://www.google.com/",
  "https://www.google.co.uk/",
  "https://duckduckgo.com/",
  "https://www.instagram.com/",
  'https://forum.example/t/which-headphones?q="noise cancelling"',
];

// --- customers ----------------------------------------------------------------------------------

const COUNTRIES = ["US", "US", "US", "CA", "GB", "GB", "IE", "DE", "FR", "NL", "ES", "AU"];
const TIERS = ["none", "none", "bronze", "bronze", "silver", "gold", "platinum"];
const FIRST = ["ana", "ben", "chloe", "dev", "emma", "farid", "grace", "hiro", "ines", "jonas", "kofi", "lena",
  "mateo", "nora", "omar", "priya", "quinn", "rosa", "sam", "tariq"];

const customers = [];
for (let i = 1; i <= 40; i++) {
  const id = `c${String(i).padStart(3, "0")}`;
  const name = FIRST[(i * 7) % FIRST.length];
  customers.push({
    customer_id: id,
    email: `${name}.${id}@mail.example`,
    country: pick(COUNTRIES),
    signup_time: iso(Date.parse("2023-01-01T00:00:00Z") + int(0, 1200) * DAY + int(0, 86_399) * 1000),
    marketing_opt_in: rand() < 0.7,
    sms_opt_in: pick([true, false, null]),
    loyalty_tier: pick(TIERS),
    birth_year: rand() < 0.15 ? null : int(1950, 2008),
  });
}
const cust = (id) => customers.find((c) => c.customer_id === id);
function setCustomer(id, fields) {
  Object.assign(cust(id), fields);
}

// Profiles the rules depend on.
setCustomer("c001", { country: "US", loyalty_tier: "gold", marketing_opt_in: true, sms_opt_in: true, signup_time: "2022-03-14T10:22:00Z", birth_year: 1984 });
setCustomer("c003", { email: "Hiro.Tanaka@Mail.Example", marketing_opt_in: true }); // mixed case: rules use lower()
setCustomer("c012", { email: null }); // EDGE: null email
setCustomer("c020", { loyalty_tier: "silver", marketing_opt_in: true, email: "grace.o'neill@mail.example" });
setCustomer("c023", { email: null, sms_opt_in: null }); // EDGE: null email and null sms_opt_in
setCustomer("c027", { email: "QA.Test@EXAMPLE.INVALID", marketing_opt_in: true }); // undeliverable test address
setCustomer("c033", { sms_opt_in: null, country: "DE" });
setCustomer("c034", { sms_opt_in: true, country: "GB", birth_year: 2001 });
setCustomer("c035", { signup_time: iso(AS_OF - 3 * DAY - 5 * HOUR), loyalty_tier: "none", birth_year: 2004 });
setCustomer("c036", { signup_time: iso(AS_OF - 10 * DAY - 2 * HOUR), loyalty_tier: "none", birth_year: null });
setCustomer("c037", { signup_time: exactlyAgo(14), loyalty_tier: "none" }); // EDGE: exactly 14 days: not a new sign-up
setCustomer("c038", { signup_time: "2025-05-02T08:00:00Z", email: null, sms_opt_in: null }); // no events at all
setCustomer("c039", { signup_time: iso(AS_OF - 6 * DAY), sms_opt_in: null }); // no events at all, new
setCustomer("c040", { signup_time: "2024-02-29T23:59:59Z", marketing_opt_in: false, birth_year: null }); // no events at all

// --- events -------------------------------------------------------------------------------------

const purchases = [];
const pageViews = [];
const carts = [];
let nextId = 1;
const eventId = (prefix) => `${prefix}-${String(nextId++).padStart(5, "0")}`;

function buy(customerId, ts, sku, { amount, quantity = 1, coupon = null, channel } = {}) {
  const p = product(sku);
  const c = cust(customerId);
  purchases.push({
    event_id: eventId("pur"),
    customer_id: customerId,
    ts,
    amount: amount ?? Math.round(p.price * quantity * 100) / 100,
    currency: CURRENCY[c.country] ?? "USD",
    category: p.category,
    sku: p.sku,
    quantity,
    coupon,
    channel: channel ?? pick(["web", "web", "app", "store"]),
  });
}
function view(customerId, ts, path, { device, referrer, duration_ms, query = "" } = {}) {
  pageViews.push({
    event_id: eventId("pv"),
    customer_id: customerId,
    ts,
    url: `https://shop.example${encodeURI(path)}${query}`,
    path,
    referrer: referrer === undefined ? pick(REFERRERS) : referrer,
    device: device ?? pick(["desktop", "desktop", "mobile", "mobile", "tablet"]),
    duration_ms: duration_ms ?? int(3_000, 120_000),
  });
}
function addToCart(customerId, ts, sku, quantity = 1) {
  const p = product(sku);
  carts.push({ event_id: eventId("atc"), customer_id: customerId, ts, sku: p.sku, category: p.category, price: p.price, quantity });
}

// c001: high value, big baskets, monthly regular, electronics fan.
for (const d of [2, 5, 9, 13, 18, 22, 27]) buy("c001", ago(d), pick(["EL-HEADPHONES-NC700", "AP-JACKET-RAIN", "EL-SPEAKER-MINI"]));
buy("c001", ago(45), "EL-LAPTOP-14");
buy("c001", ago(75), "EL-HEADPHONES-NC700");
buy("c001", ago(110), "HO-LAMP-DESK", { quantity: 4 });
// c002: EDGE: 5 orders in the last 30 days plus one exactly 30 days before as_of, which is outside
// `in last 30 days`: count is 5, so not high_value.
for (const d of [1, 6, 11, 16, 21]) buy("c002", ago(d), "EL-HEADPHONES-NC700");
buy("c002", exactlyAgo(30), "EL-HEADPHONES-NC700");
// c003: EDGE: 5 orders plus one exactly at as_of, which is inside `in last 30 days`: high_value.
for (const d of [3, 8, 14, 19, 25]) buy("c003", ago(d), "EL-HEADPHONES-NC700");
buy("c003", iso(AS_OF), "AP-JACKET-RAIN");
// c004: EDGE: 5 orders plus one after as_of, which never counts: not high_value.
for (const d of [4, 7, 12, 17, 24]) buy("c004", ago(d), "EL-HEADPHONES-NC700");
buy("c004", "2026-11-01T06:30:00Z", "EL-LAPTOP-14");
// c010-c013: churned, bought only 100+ days ago.
for (const id of ["c010", "c011", "c012", "c013"]) {
  buy(id, ago(int(95, 118)), pick(PRODUCTS).sku);
  if (rand() < 0.5) buy(id, ago(int(100, 119)), pick(PRODUCTS).sku);
}
// c014: EDGE: last order exactly 90 days before as_of: outside `in the last 90 days`, so churned;
// and outside `between 90 days and 30 days ago`, so not at_risk.
buy("c014", ago(115), "GR-COFFEE-1KG");
buy("c014", exactlyAgo(90), "GR-COFFEE-1KG");
// c015: EDGE: last order exactly 30 days ago: inside `between 90 days and 30 days ago`: at_risk.
buy("c015", ago(70), "BE-SERUM-30ML");
buy("c015", exactlyAgo(30), "BE-SERUM-30ML", { coupon: "FALL26" });
// c016: ordered 20 days ago: not at risk.
buy("c016", ago(50), "SP-YOGA-MAT");
buy("c016", ago(20), "SP-YOGA-MAT");
// c017: lapsing: $650 in the 30 days before, $120 in the last 30.
buy("c017", ago(35), "EL-HEADPHONES-NC700", { quantity: 2, amount: 498 });
buy("c017", ago(52), "HO-LAMP-DESK", { amount: 152 });
buy("c017", ago(11), "AP-TEE-LOGO-M", { quantity: 6, amount: 120 });
// c018: lapsing: $400 in the 30 days before, nothing since (an empty sum is 0).
buy("c018", ago(40), "AP-JACKET-RAIN", { quantity: 2, amount: 258 });
buy("c018", ago(58), "TO-BRICKS-CASTLE", { quantity: 2, amount: 142 });
// c019: accelerating: $80 before, $420 in the last 30 days.
buy("c019", ago(44), "GR-COFFEE-1KG", { quantity: 2, amount: 48 });
buy("c019", ago(50), "HO-MUG-CAFE-CREME", { quantity: 2, amount: 28 });
buy("c019", ago(6), "AP-JACKET-RAIN", { quantity: 2, amount: 258, coupon: "NOËL-VIP" }); // unicode coupon code
buy("c019", ago(9), "HO-LAMP-DESK", { quantity: 3, amount: 135 });
buy("c019", ago(15), "GR-COFFEE-1KG", { amount: 24 });
// c020: big baskets, silver tier with enough spend this year for gold.
for (const d of [33, 64, 95, 118]) buy("c020", ago(d), "EL-LAPTOP-14", { amount: 420 + d });
// c021, c022: small baskets; c022 once spent over $100.
for (const d of [12, 41, 77]) buy("c021", ago(d), pick(["HO-MUG-CAFE-CREME", "GR-COFFEE-1KG", "AP-TEE-LOGO-M"]));
for (const [d, amount] of [[5, 9.5], [25, 10], [48, 10], [66, 11], [80, 120]]) buy("c022", ago(d), "GR-COFFEE-1KG", { amount });
// c023: never bought, browses and abandons carts.
for (const d of [2, 4, 9, 30]) view("c023", ago(d), pick(["/c/home", "/p/desk-lamp", "/cart"]));
addToCart("c023", ago(2), "HO-LAMP-DESK");
// c024: bought 20 days ago, added to cart 3 days ago: abandoned.
buy("c024", ago(20), "BE-SERUM-30ML");
addToCart("c024", ago(3), "BE-SERUM-30ML", 2);
// c025: added to cart 5 days ago, bought the next day: not abandoned.
addToCart("c025", exactlyAgo(5), "SP-YOGA-MAT");
buy("c025", exactlyAgo(4), "SP-YOGA-MAT");
// c026: coupon hunter with a welcome code and a fall code.
buy("c026", ago(80), "AP-TEE-LOGO-M", { coupon: "WELCOME10" });
buy("c026", ago(30), "AP-TEE-LOGO-M", { coupon: "FALL26" });
buy("c026", ago(8), "AP-JACKET-RAIN");
// c027: WELCOME5 does not match ^WELCOME[0-9]{2}$; FRIENDS-VIP ends with -VIP.
buy("c027", ago(100), "BE-SERUM-30ML", { coupon: "WELCOME5" });
buy("c027", ago(22), "BE-SERUM-30ML", { coupon: "FRIENDS-VIP" });
buy("c027", ago(10), "BE-SERUM-30ML");
buy("c027", ago(3), "BE-SERUM-30ML");
// c028: electronics spend of $650 in the last 60 days.
buy("c028", ago(18), "EL-HEADPHONES-NC700", { quantity: 2, amount: 498 });
buy("c028", ago(55), "EL-CHARGER-65W", { quantity: 4, amount: 152 });
// c029: browses electronics a lot (6 times in 30 days), buys little.
for (const d of [1, 3, 6, 10, 15, 28]) view("c029", ago(d), pick(["/c/electronics", "/c/electronics/headphones"]));
buy("c029", ago(60), "EL-CHARGER-65W");
// c030: mobile first.
for (const d of [2, 5, 8, 12, 20]) view("c030", ago(d), pick(["/", "/c/beauty", "/p/serum-30ml"]), { device: "mobile" });
view("c030", ago(16), "/p/serum-30ml", { device: "desktop" });
// c031: bought in each of the last three 30-day periods.
for (const d of [10, 40, 70]) buy("c031", ago(d), pick(["GR-COFFEE-1KG", "BO-COOKBOOK-CREME", "HO-MUG-CAFE-CREME"]));
// c032: window shopper.
for (const d of [7, 14, 21, 35, 50]) view("c032", ago(d), pick(["/c/apparel", "/p/rain-jacket", '/p/poster-"seg"-a2']));
// c033: first purchase 12 days ago.
view("c033", ago(13), "/p/cookbook-crème-brûlée");
buy("c033", ago(12), "BO-COOKBOOK-CREME");
// c034: holiday preview visitor, early gift buyer, newsletter clicker.
view("c034", "2026-10-15T13:00:00Z", "/holiday/gift-guide", { referrer: null }); // EDGE: exactly at launch
view("c034", ago(5), "/holiday/toys", { query: "?utm_source=newsletter&utm_campaign=holiday26", referrer: null });
buy("c034", "2026-10-18T17:45:12Z", "TO-BRICKS-CASTLE");
// c010 saw the holiday preview too, but is churned; c016 saw it a minute before launch.
view("c010", "2026-10-20T08:00:00Z", "/holiday/gift-guide");
view("c016", "2026-10-15T12:59:00Z", "/holiday/gift-guide"); // EDGE: before launch
// c005 bought a book after the first two weeks: not an early holiday buyer.
buy("c005", "2026-10-29T19:00:00Z", "BO-COOKBOOK-CREME");
// c035, c036: new sign-ups; c036 already bought.
view("c035", ago(2), "/", { referrer: "https://www.instagram.com/" });
view("c036", ago(9), "/c/toys");
buy("c036", ago(9), "TO-BRICKS-CASTLE", { coupon: "WELCOME15" });
// c037: signed up exactly 14 days ago; browsed once.
view("c037", ago(1), "/");

// Background activity for everyone who has a profile but no scripted story, plus page views
// for most scripted customers. c038, c039, c040 have no events at all (EDGE).
const NO_EVENTS = new Set(["c038", "c039", "c040"]);
const SCRIPTED_PURCHASES = new Set(purchases.map((p) => p.customer_id));
const SCRIPTED_VIEWS = new Set(["c023", "c029", "c030", "c032", "c035", "c036", "c037"]);
for (const c of customers) {
  const id = c.customer_id;
  if (NO_EVENTS.has(id)) continue;
  if (!SCRIPTED_VIEWS.has(id)) {
    const n = int(2, 9);
    for (let k = 0; k < n; k++) {
      const p = pick(PRODUCTS);
      const path = pick([p.path, `/c/${p.category}`, "/", "/search"]);
      const query = path === "/search" ? `?q=${encodeURIComponent(pick(["gift ideas", "café", '"rain jacket"']))}` : "";
      view(id, ago(int(0, 119)), path, { query });
    }
  }
  if (!SCRIPTED_PURCHASES.has(id) && !["c023", "c032", "c035", "c037"].includes(id)) {
    const n = int(3, 9);
    for (let k = 0; k < n; k++) {
      const p = pick(PRODUCTS.filter((x) => x.sku !== "EL-LAPTOP-14"));
      buy(id, ago(int(1, 119)), p.sku, { quantity: int(1, 2), coupon: rand() < 0.15 ? pick(["SAVE10", "FREESHIP"]) : null });
      if (rand() < 0.4) addToCart(id, ago(int(0, 40)), pick(PRODUCTS).sku, int(1, 3));
    }
  }
}

// --- write --------------------------------------------------------------------------------------

function write(name, rows) {
  const sorted = [...rows].sort((a, b) => (a.ts ?? a.customer_id).localeCompare(b.ts ?? b.customer_id) || a.customer_id.localeCompare(b.customer_id));
  writeFileSync(join(OUT, name), sorted.map((r) => JSON.stringify(r)).join("\n") + "\n");
  console.log(`${name}: ${rows.length} rows`);
}
write("customer.jsonl", customers.map((c) => ({ ...c })).sort((a, b) => a.customer_id.localeCompare(b.customer_id)));
write("purchase.jsonl", purchases);
write("page_view.jsonl", pageViews);
write("add_to_cart.jsonl", carts);
