-- carteira_setores: one row per sector per index and trading date (b3_contract.tables). Spark SQL over the view
-- `bronze`. Only segment-2 captures carry sectors; dates captured without them have no rows here.
SELECT
  segment AS setor,
  CAST(count(*) AS INT) AS total_ativos,
  CAST(sum(CAST(replace(replace(part, '.', ''), ',', '.') AS DECIMAL(7, 3))) AS DECIMAL(7, 3))
    AS participacao_pct,
  CAST(sum(CAST(replace(theorical_qty, '.', '') AS BIGINT)) AS BIGINT) AS qtd_teorica,
  _index AS indice,
  to_date(header_date, 'dd/MM/yy') AS data
FROM bronze
WHERE segment IS NOT NULL
GROUP BY _index, header_date, segment
