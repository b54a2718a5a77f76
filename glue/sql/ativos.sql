-- carteira_ativos: one row per constituent per index and trading date (columns: b3_contract.tables).
-- Spark SQL over the view `bronze` (the raw/INDEX/DATE/dados_originais.parquet objects). Glue runs it
-- with spark.sql; the embedded default runs it on DuckDB after sqlglot.transpile(spark -> duckdb).
WITH parsed AS (
  SELECT
    _index AS indice,
    asset AS empresa,
    split(trim(type), ' +') AS tipo_partes,
    segment AS setor,
    CAST(replace(replace(part, '.', ''), ',', '.') AS DECIMAL(7, 3)) AS participacao_pct,
    CAST(replace(replace(part_acum, '.', ''), ',', '.') AS DECIMAL(7, 3)) AS participacao_setor_pct,
    CAST(replace(theorical_qty, '.', '') AS BIGINT) AS qtd_teorica,
    _fetched_at AS data_coleta,
    _origin AS origem,
    to_date(header_date, 'dd/MM/yy') AS data,
    cod AS acao
  FROM bronze
),
ranked AS (
  SELECT
    *,
    row_number() OVER (PARTITION BY indice, data ORDER BY participacao_pct DESC, acao ASC) AS posicao,
    sum(participacao_pct) OVER (
      PARTITION BY indice, data ORDER BY participacao_pct DESC, acao ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS acumulado
  FROM parsed
)
SELECT
  empresa,
  array_join(tipo_partes, ' ') AS tipo,
  element_at(tipo_partes, 1) AS classe,
  CASE WHEN element_at(tipo_partes, -1) IN ('NM', 'N1', 'N2') THEN element_at(tipo_partes, -1) END
    AS governanca,
  setor,
  participacao_pct,
  participacao_setor_pct,
  qtd_teorica,
  CAST(posicao AS INT) AS ranking,
  CAST(acumulado AS DECIMAL(7, 3)) AS participacao_acumulada_pct,
  data_coleta,
  CAST(datediff(
    data,
    make_date(year(data), CASE WHEN month(data) >= 9 THEN 9 WHEN month(data) >= 5 THEN 5 ELSE 1 END, 1)
  ) AS INT) AS dias_desde_rebalanceamento,
  origem,
  indice,
  data,
  acao
FROM ranked
