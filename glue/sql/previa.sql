-- carteira_previa: B3's preview of the next quadrimester, one row per ticker per index and capture
-- session (columns: b3_contract.tables). Spark SQL over the view `previa_bronze` (the
-- previa/raw/INDEX/DATE/dados_originais.parquet objects), whose `_carteira` tells the preview
-- (GetQuartelyPreview, or B3's quadrimester CSV) from the current theoretical portfolio kept beside
-- it. The preview has no date: `_data_captura` is the session it was captured on and
-- `_quadrimestre` the portfolio it forecasts, both stored at capture.
WITH parsed AS (
  SELECT
    _index AS indice,
    asset AS empresa,
    trim(regexp_replace(type, ' +', ' ')) AS tipo,
    CAST(replace(replace(part, '.', ''), ',', '.') AS DECIMAL(7, 3)) AS participacao_pct,
    CAST(replace(theorical_qty, '.', '') AS BIGINT) AS qtd_teorica,
    _quadrimestre AS quadrimestre,
    _fetched_at AS data_coleta,
    _origin AS origem,
    _data_captura AS data,
    cod AS acao
  FROM previa_bronze
  WHERE _carteira = 'previa'
)
SELECT
  empresa,
  tipo,
  participacao_pct,
  qtd_teorica,
  CAST(row_number() OVER (
    PARTITION BY indice, data ORDER BY participacao_pct DESC, acao ASC
  ) AS INT) AS ranking,
  quadrimestre,
  data_coleta,
  origem,
  acao,
  indice,
  data
FROM parsed
