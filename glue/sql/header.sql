-- carteira_header: one row per index and trading date (b3_contract.tables). Spark SQL over the view `bronze`.
-- defasagem_dias uses the UTC date of data_coleta: both engines run with the session time zone UTC;
-- it is null when the capture time is unknown (a CSV import: data_coleta null, origem 'csv').
WITH headers AS (
  SELECT
    _index AS indice,
    to_date(header_date, 'dd/MM/yy') AS data_carteira,
    CAST(replace(header_theorical_qty, '.', '') AS BIGINT) AS qtd_teorica_total,
    CAST(replace(replace(header_reductor, '.', ''), ',', '.') AS DECIMAL(20, 8)) AS redutor,
    CAST(replace(replace(header_part, '.', ''), ',', '.') AS DECIMAL(7, 3)) AS participacao_total_pct,
    CAST(count(*) AS INT) AS total_ativos,
    max(_fetched_at) AS data_coleta,
    max(_origin) AS origem
  FROM bronze
  GROUP BY _index, header_date, header_theorical_qty, header_reductor, header_part
)
SELECT
  data_carteira,
  qtd_teorica_total,
  redutor,
  participacao_total_pct,
  total_ativos,
  data_coleta,
  CAST(datediff(data_carteira, to_date(data_coleta)) AS INT) AS defasagem_dias,
  origem,
  indice,
  data_carteira AS data
FROM headers
