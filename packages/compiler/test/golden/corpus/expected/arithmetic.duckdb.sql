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
    MAX(e."ts") AS agg_1,
    CAST(SUM(e."amount") FILTER (WHERE e."ts" > CAST($as_of AS TIMESTAMP) - INTERVAL '30 days') AS DOUBLE) AS agg_2,
    COUNT(*) AS agg_3,
    CAST(SUM(e."amount") AS DOUBLE) AS agg_4,
    CAST(SUM(e."amount") FILTER (WHERE e."ts" > CAST($as_of AS TIMESTAMP) - INTERVAL '60 days' AND e."ts" <= CAST($as_of AS TIMESTAMP) - INTERVAL '30 days') AS DOUBLE) AS agg_5
  FROM "purchase" AS e
  WHERE e."ts" <= CAST($as_of AS TIMESTAMP)
  GROUP BY e."customer_id"
),
base AS (
  SELECT
    a1.entity_id,
    a1.agg_1 AS agg_1,
    COALESCE(a1.agg_2, 0) AS agg_2,
    COALESCE(a1.agg_3, 0) AS agg_3,
    COALESCE(a1.agg_4, 0) AS agg_4,
    COALESCE(a1.agg_5, 0) AS agg_5
  FROM events_1 AS a1
  WHERE a1.entity_id IS NOT NULL
),
flags_1 AS (
  SELECT
    b.*,
    ((((b.agg_2 < (b.agg_5 * CAST(0.5 AS DOUBLE))) AND COALESCE((CAST(b.agg_4 AS DOUBLE) / NULLIF(CAST(b.agg_3 AS DOUBLE), 0)) >= CAST(25.5 AS DOUBLE), FALSE)) AND COALESCE((CAST(epoch_us(CAST($as_of AS TIMESTAMP)) - epoch_us(b.agg_1) AS DOUBLE) / 86400000000) > 7, FALSE)) AND ((- CAST(abs(b.agg_2) AS DOUBLE)) <= 0)) AS in_1
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
  'arithmetic' AS segment,
  CAST(b.entity_id AS VARCHAR) AS entity_id,
  CAST(json_object('aov', CASE WHEN isfinite((CAST(b.agg_4 AS DOUBLE) / NULLIF(CAST(b.agg_3 AS DOUBLE), 0))) THEN (CAST(b.agg_4 AS DOUBLE) / NULLIF(CAST(b.agg_3 AS DOUBLE), 0)) END, 'growth', CASE WHEN isfinite((b.agg_2 - b.agg_5)) THEN (b.agg_2 - b.agg_5) END) AS VARCHAR) AS metrics
FROM members AS b
WHERE b.in_1
ORDER BY segment, entity_id
