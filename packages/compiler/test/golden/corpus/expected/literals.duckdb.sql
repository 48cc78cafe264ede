WITH
universe AS (
  SELECT
    p."customer_id" AS entity_id
  FROM "customer" AS p
  WHERE p."customer_id" IS NOT NULL
),
events_1 AS (
  SELECT
    e."customer_id" AS entity_id,
    MAX(e."ts") AS agg_1
  FROM "purchase" AS e
  WHERE e."ts" <= CAST($as_of AS TIMESTAMP)
  GROUP BY e."customer_id"
),
base AS (
  SELECT
    a1.entity_id,
    p1."email" AS attr_1,
    p1."signup_time" AS attr_2,
    p1."marketing_opt_in" AS attr_3,
    a1.agg_1 AS agg_1
  FROM events_1 AS a1
  LEFT JOIN "customer" AS p1 ON p1."customer_id" = a1.entity_id
  WHERE a1.entity_id IS NOT NULL
),
flags_1 AS (
  SELECT
    b.*,
    ((((((b.attr_2 >= TIMESTAMP '2024-02-29 00:00:00.000') AND (b.attr_2 < TIMESTAMP '2026-10-31 21:59:59.999')) AND ((epoch_us(CAST($as_of AS TIMESTAMP)) - epoch_us(b.attr_2)) >= CAST(62899200000000 AS BIGINT))) AND COALESCE(b.agg_1 > (CAST($as_of AS TIMESTAMP) - INTERVAL '1 day 12:00:00.000'), FALSE)) AND (b.attr_3 = TRUE)) AND COALESCE(b.attr_1 <> '😀 ünïcode', FALSE)) AS in_1
  FROM base AS b
),
members AS (
  SELECT
    b.*
  FROM flags_1 AS b
  SEMI JOIN universe AS u ON u.entity_id = b.entity_id
  WHERE b.in_1
)
SELECT
  'literals' AS segment,
  CAST(b.entity_id AS VARCHAR) AS entity_id,
  '{}' AS metrics
FROM members AS b
WHERE b.in_1
ORDER BY segment, entity_id
