-- carteira_historico: one row per constituent per index and trading date, written as one file per
-- index and month sorted by date and ticker (b3_contract.tables). Spark SQL over the view `carteira`
-- (carteira_ativos' columns of b3_contract.analytics.CARTEIRA_COLUMNS, every captured date of the
-- months the run touches).
SELECT
  data,
  acao,
  empresa,
  tipo,
  classe,
  governanca,
  setor,
  participacao_pct,
  qtd_teorica,
  ranking,
  participacao_acumulada_pct,
  origem,
  indice,
  date_format(data, 'yyyy-MM') AS mes
FROM carteira
