WITH
universe AS (
  SELECT
    p.`customer_id` AS entity_id
  FROM `customer` AS p
  WHERE p.`customer_id` IS NOT NULL
),
events_1 AS (
  SELECT
    e.`customer_id` AS entity_id,
    CAST(SUM(e.`amount`) FILTER (WHERE e.`ts` > CAST(:as_of AS TIMESTAMP) - INTERVAL '30' DAY) AS DOUBLE) AS agg_1,
    COUNT(*) FILTER (WHERE e.`ts` > CAST(:as_of AS TIMESTAMP) - INTERVAL '60' DAY AND e.`ts` <= CAST(:as_of AS TIMESTAMP) - INTERVAL '30' DAY) AS agg_2,
    COUNT(DISTINCT CASE WHEN COALESCE(rlike(e.`coupon`, '(?d)^WELCOME\\d{2}\\z'), FALSE) THEN e.`coupon` END) AS agg_3,
    MAX(e.`ts`) AS agg_4
  FROM `purchase` AS e
  WHERE e.`ts` <= CAST(:as_of AS TIMESTAMP)
  GROUP BY e.`customer_id`
),
base AS (
  SELECT
    a1.entity_id,
    p1.`country` AS attr_1,
    p1.`a"b` AS attr_2,
    COALESCE(a1.agg_1, 0) AS agg_1,
    COALESCE(a1.agg_2, 0) AS agg_2,
    COALESCE(a1.agg_3, 0) AS agg_3,
    a1.agg_4 AS agg_4
  FROM events_1 AS a1
  LEFT JOIN `customer` AS p1 ON p1.`customer_id` = a1.entity_id
  WHERE a1.entity_id IS NOT NULL
),
flags_1 AS (
  SELECT
    b.*,
    ((b.agg_1 > 1000D) AND (b.agg_2 >= 1)) AS in_1
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
  LEFT SEMI JOIN universe AS u ON u.entity_id = b.entity_id
)
SELECT
  o.segment AS segment,
  CAST(b.entity_id AS STRING) AS entity_id,
  o.metrics AS metrics
FROM members AS b
LATERAL VIEW inline(array_compact(array(
  CASE WHEN b.in_1 THEN named_struct('segment', 'high_value', 'metrics', to_json(named_struct('total_spend', CASE WHEN abs(b.agg_1) < CAST('Infinity' AS DOUBLE) THEN b.agg_1 END), map('ignoreNullFields', 'false'))) END,
  CASE WHEN b.in_2 THEN named_struct('segment', 'vip', 'metrics', to_json(named_struct('last_purchase', date_format(b.agg_4, 'yyyy-MM-dd\'T\'HH:mm:ss.SSS\'Z\''), 'days_idle', (CAST(unix_micros(CAST(:as_of AS TIMESTAMP)) - unix_micros(b.agg_4) AS DOUBLE) / 86400000000), 'note', 'it\'s \\ \u0024{x}'), map('ignoreNullFields', 'false'))) END
))) o AS segment, metrics
