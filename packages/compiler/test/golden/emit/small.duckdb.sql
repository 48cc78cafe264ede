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
    CAST(SUM(e."amount") FILTER (WHERE e."ts" > CAST($as_of AS TIMESTAMP) - INTERVAL '30 days') AS DOUBLE) AS agg_1,
    COUNT(*) FILTER (WHERE e."ts" > CAST($as_of AS TIMESTAMP) - INTERVAL '60 days' AND e."ts" <= CAST($as_of AS TIMESTAMP) - INTERVAL '30 days') AS agg_2,
    COUNT(DISTINCT e."coupon") FILTER (WHERE COALESCE(regexp_matches(e."coupon", '^WELCOME\d{2}$'), FALSE)) AS agg_3,
    MAX(e."ts") AS agg_4
  FROM "purchase" AS e
  WHERE e."ts" <= CAST($as_of AS TIMESTAMP)
  GROUP BY e."customer_id"
),
base AS (
  SELECT
    a1.entity_id,
    p1."country" AS attr_1,
    p1."a""b" AS attr_2,
    COALESCE(a1.agg_1, 0) AS agg_1,
    COALESCE(a1.agg_2, 0) AS agg_2,
    COALESCE(a1.agg_3, 0) AS agg_3,
    a1.agg_4 AS agg_4
  FROM events_1 AS a1
  LEFT JOIN "customer" AS p1 ON p1."customer_id" = a1.entity_id
  WHERE a1.entity_id IS NOT NULL
),
flags_1 AS (
  SELECT
    b.*,
    ((b.agg_1 > CAST(1000 AS DOUBLE)) AND (b.agg_2 >= 1)) AS in_1
  FROM base AS b
),
flags_2 AS (
  SELECT
    b.*,
    (b.in_1 AND (b.attr_1 IN ('US', 'CA')) AND (NOT (b.agg_3 > 0)) AND (b.attr_2 IS NOT NULL)) AS in_2
  FROM flags_1 AS b
),
members AS (
  SELECT
    b.*
  FROM flags_2 AS b
  SEMI JOIN universe AS u ON u.entity_id = b.entity_id
)
SELECT
  'high_value' AS segment,
  CAST(b.entity_id AS VARCHAR) AS entity_id,
  CAST(json_object('total_spend', CASE WHEN isfinite(b.agg_1) THEN b.agg_1 END) AS VARCHAR) AS metrics
FROM members AS b
WHERE b.in_1
UNION ALL
SELECT
  'vip' AS segment,
  CAST(b.entity_id AS VARCHAR) AS entity_id,
  CAST(json_object('last_purchase', strftime(b.agg_4, '%Y-%m-%dT%H:%M:%S.%gZ'), 'days_idle', (CAST(epoch_us(CAST($as_of AS TIMESTAMP)) - epoch_us(b.agg_4) AS DOUBLE) / 86400000000), 'note', 'it''s \ ${x}') AS VARCHAR) AS metrics
FROM members AS b
WHERE b.in_2
ORDER BY segment, entity_id
