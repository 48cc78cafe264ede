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
    COUNT(*) > 0 AS agg_4
  FROM "add_to_cart" AS e
  WHERE e."ts" <= CAST($as_of AS TIMESTAMP)
    AND e."ts" > CAST($as_of AS TIMESTAMP) - INTERVAL '1 day'
  GROUP BY e."customer_id"
),
events_2 AS (
  SELECT
    e."customer_id" AS entity_id,
    COUNT(*) FILTER (WHERE (e."device" = 'mobile')) > 0 AS agg_8
  FROM "page_view" AS e
  WHERE e."ts" <= CAST($as_of AS TIMESTAMP)
    AND e."ts" > CAST($as_of AS TIMESTAMP) - INTERVAL '7 days'
  GROUP BY e."customer_id"
),
events_3 AS (
  SELECT
    e."customer_id" AS entity_id,
    MAX(e."ts") FILTER (WHERE e."ts" > CAST($as_of AS TIMESTAMP) - INTERVAL '365 days') AS agg_1,
    COUNT(DISTINCT e."category") FILTER (WHERE e."ts" > CAST($as_of AS TIMESTAMP) - INTERVAL '90 days') AS agg_2,
    MAX(e."amount") FILTER (WHERE (e."category" = 'electronics')) AS agg_3,
    AVG(e."amount") FILTER (WHERE (e."channel" IN ('web', 'app'))) AS agg_5,
    MIN(e."amount") AS agg_6,
    MIN(e."ts") AS agg_7
  FROM "purchase" AS e
  WHERE e."ts" <= CAST($as_of AS TIMESTAMP)
  GROUP BY e."customer_id"
),
base AS (
  SELECT
    a2.entity_id,
    COALESCE(a1.agg_4, FALSE) AS agg_4,
    COALESCE(a2.agg_8, FALSE) AS agg_8,
    a3.agg_1 AS agg_1,
    COALESCE(a3.agg_2, 0) AS agg_2,
    a3.agg_3 AS agg_3,
    a3.agg_5 AS agg_5,
    a3.agg_6 AS agg_6,
    a3.agg_7 AS agg_7
  FROM events_2 AS a2
  LEFT JOIN events_1 AS a1 ON a1.entity_id = a2.entity_id
  LEFT JOIN events_3 AS a3 ON a3.entity_id = a2.entity_id
  WHERE a2.entity_id IS NOT NULL
),
flags_1 AS (
  SELECT
    b.*,
    ((((b.agg_2 >= 2) AND COALESCE(b.agg_5 > 20, FALSE)) AND b.agg_8) AND (NOT b.agg_4)) AS in_1
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
  'aggregates' AS segment,
  CAST(b.entity_id AS VARCHAR) AS entity_id,
  CAST(json_object('first_order', strftime(b.agg_7, '%Y-%m-%dT%H:%M:%S.%gZ'), 'last_order', strftime(b.agg_1, '%Y-%m-%dT%H:%M:%S.%gZ'), 'cheapest', b.agg_6, 'dearest', b.agg_3) AS VARCHAR) AS metrics
FROM members AS b
WHERE b.in_1
ORDER BY segment, entity_id
