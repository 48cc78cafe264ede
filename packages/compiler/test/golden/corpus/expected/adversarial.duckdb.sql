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
    COUNT(*) FILTER (WHERE COALESCE(e."a""b" = '''); DROP TABLE x; --', FALSE)) AS agg_1,
    COUNT(*) FILTER (WHERE COALESCE(contains(e."it's", '%_'), FALSE)) > 0 AS agg_2,
    CAST(SUM(e."a`b") AS DOUBLE) AS agg_3,
    COUNT(*) FILTER (WHERE COALESCE(e."select" = ('it''s \ "quoted"' || chr(10)), FALSE)) AS agg_4
  FROM "odd_event" AS e
  WHERE e."ts" <= CAST($as_of AS TIMESTAMP)
  GROUP BY e."customer_id"
),
base AS (
  SELECT
    a1.entity_id,
    COALESCE(a1.agg_1, 0) AS agg_1,
    COALESCE(a1.agg_2, FALSE) AS agg_2,
    COALESCE(a1.agg_3, 0) AS agg_3,
    COALESCE(a1.agg_4, 0) AS agg_4
  FROM events_1 AS a1
  WHERE a1.entity_id IS NOT NULL
),
flags_1 AS (
  SELECT
    b.*,
    ((((b.agg_1 > 0) OR (b.agg_3 > 1)) OR (b.agg_4 > 0)) OR b.agg_2) AS in_1
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
  'it''s "odd"' AS segment,
  CAST(b.entity_id AS VARCHAR) AS entity_id,
  CAST(json_object('a"b', b.agg_1) AS VARCHAR) AS metrics
FROM members AS b
WHERE b.in_1
ORDER BY segment, entity_id
