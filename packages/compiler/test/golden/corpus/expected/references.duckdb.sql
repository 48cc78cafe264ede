WITH
universe AS (
  SELECT DISTINCT
    p."customer_id" AS entity_id
  FROM "customer" AS p
  WHERE p."customer_id" IS NOT NULL
),
events_1 AS (
  SELECT
    e."customer_id" AS entity_id,
    COUNT(*) AS agg_1
  FROM "purchase" AS e
  WHERE e."ts" <= CAST($as_of AS TIMESTAMP)
  GROUP BY e."customer_id"
),
base AS (
  SELECT
    u.entity_id,
    p1."country" AS attr_1,
    COALESCE(a1.agg_1, 0) AS agg_1
  FROM universe AS u
  LEFT JOIN "customer" AS p1 ON p1."customer_id" = u.entity_id
  LEFT JOIN events_1 AS a1 ON a1.entity_id = u.entity_id
),
flags_1 AS (
  SELECT
    b.*,
    (b.agg_1 > 1) AS in_1
  FROM base AS b
),
flags_2 AS (
  SELECT
    b.*,
    (b.in_1 AND (b.attr_1 = 'US')) AS in_2
  FROM flags_1 AS b
),
flags_3 AS (
  SELECT
    b.*,
    (b.in_2 OR (NOT b.in_1)) AS in_3
  FROM flags_2 AS b
)
SELECT
  'a' AS segment,
  CAST(b.entity_id AS VARCHAR) AS entity_id,
  '{}' AS metrics
FROM flags_3 AS b
WHERE b.in_1
UNION ALL
SELECT
  'b' AS segment,
  CAST(b.entity_id AS VARCHAR) AS entity_id,
  '{}' AS metrics
FROM flags_3 AS b
WHERE b.in_2
UNION ALL
SELECT
  'c' AS segment,
  CAST(b.entity_id AS VARCHAR) AS entity_id,
  '{}' AS metrics
FROM flags_3 AS b
WHERE b.in_3
ORDER BY segment, entity_id
