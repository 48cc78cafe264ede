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
    COUNT(*) AS agg_1,
    CAST(SUM(e."amount") AS DOUBLE) AS agg_2
  FROM "purchase" AS e
  WHERE e."ts" <= CAST($as_of AS TIMESTAMP)
    AND e."ts" > CAST($as_of AS TIMESTAMP) - INTERVAL '30 days'
  GROUP BY e."customer_id"
),
base AS (
  SELECT
    a1.entity_id,
    COALESCE(a1.agg_1, 0) AS agg_1,
    COALESCE(a1.agg_2, 0) AS agg_2
  FROM events_1 AS a1
  WHERE a1.entity_id IS NOT NULL
),
flags_1 AS (
  SELECT
    b.*,
    ((b.agg_2 > 1000) AND (b.agg_1 > 5)) AS in_1
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
  'high_value' AS segment,
  CAST(b.entity_id AS VARCHAR) AS entity_id,
  CAST(json_object('total_spend', CASE WHEN isfinite(b.agg_2) THEN b.agg_2 END) AS VARCHAR) AS metrics
FROM members AS b
WHERE b.in_1
ORDER BY segment, entity_id
