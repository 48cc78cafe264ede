WITH
universe AS (
  SELECT DISTINCT
    p."customer_id" AS entity_id
  FROM "customer" AS p
  WHERE p."customer_id" IS NOT NULL
),
base AS (
  SELECT
    u.entity_id,
    p1."email" AS attr_1,
    p1."country" AS attr_2,
    p1."signup_time" AS attr_3,
    p1."marketing_opt_in" AS attr_4,
    p1."sms_opt_in" AS attr_5,
    p1."loyalty_tier" AS attr_6,
    p1."birth_year" AS attr_7
  FROM universe AS u
  LEFT JOIN "customer" AS p1 ON p1."customer_id" = u.entity_id
),
flags_1 AS (
  SELECT
    b.*,
    (((((((((b.attr_3 > CAST($as_of AS TIMESTAMP) - INTERVAL '14 days' AND b.attr_3 <= CAST($as_of AS TIMESTAMP)) AND (b.attr_1 IS NOT NULL)) AND COALESCE(ends_with(lower(b.attr_1), '@mail.example'), FALSE)) AND (NOT (b.attr_2 IN ('DE', 'FR')))) AND (b.attr_5 IS NULL)) AND b.attr_4) AND (b.attr_6 <> 'none')) AND ((COALESCE(contains(b.attr_1, '+'), FALSE) OR COALESCE(starts_with(b.attr_1, 'vip.'), FALSE)) OR COALESCE(regexp_matches(b.attr_1, '^[a-z]+\.c[0-9]{3}@'), FALSE))) AND COALESCE(b.attr_7 BETWEEN 1980 AND 1999, FALSE)) AS in_1
  FROM base AS b
)
SELECT
  'profile_rules' AS segment,
  CAST(b.entity_id AS VARCHAR) AS entity_id,
  '{}' AS metrics
FROM flags_1 AS b
WHERE b.in_1
ORDER BY segment, entity_id
