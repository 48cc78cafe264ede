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
    COUNT(*) FILTER (WHERE e."ts" > CAST($as_of AS TIMESTAMP) - INTERVAL '0 days 01:30:00.000') AS agg_1,
    COUNT(*) AS agg_2,
    CAST(SUM(e."amount") FILTER (WHERE e."ts" > CAST($as_of AS TIMESTAMP) - INTERVAL '60 days' AND e."ts" <= CAST($as_of AS TIMESTAMP) - INTERVAL '30 days') AS DOUBLE) AS agg_3,
    COUNT(*) FILTER (WHERE e."ts" > CAST($as_of AS TIMESTAMP) - INTERVAL '14 days') AS agg_4
  FROM "purchase" AS e
  WHERE e."ts" <= CAST($as_of AS TIMESTAMP)
  GROUP BY e."customer_id"
),
base AS (
  SELECT
    a1.entity_id,
    COALESCE(a1.agg_1, 0) AS agg_1,
    COALESCE(a1.agg_2, 0) AS agg_2,
    COALESCE(a1.agg_3, 0) AS agg_3,
    COALESCE(a1.agg_4, 0) AS agg_4
  FROM events_1 AS a1
  WHERE a1.entity_id IS NOT NULL
),
flags_1 AS (
  SELECT
    b.*,
    (((((b.agg_1 >= 1) OR (b.agg_4 >= 2)) OR (b.agg_3 > 10)) OR (b.agg_2 > 20)) OR (b.agg_2 > 30)) AS in_1
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
  'windows' AS segment,
  CAST(b.entity_id AS VARCHAR) AS entity_id,
  '{}' AS metrics
FROM members AS b
WHERE b.in_1
ORDER BY segment, entity_id
