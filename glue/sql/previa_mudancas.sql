-- carteira_previa_mudancas: the pairs of `comparacoes` (planned by b3_contract.previews), each ticker
-- of either side once. Spark SQL over the views `comparacoes` (indice, data, comparacao,
-- quadrimestre, data_carteira), `previa` (carteira_previa rows) and `carteira` (daily rows).
-- 'previa': antes = the daily portfolio of data_carteira, depois = the preview of data.
-- 'realizada': antes = the last preview before the rebalance, depois = the portfolio of the
-- rebalance's first session (data_carteira): variacao_pp is the forecast's error.
-- tipo_mudanca: entrada (only depois holds it), saida (only antes), permanece (both).
WITH lado_previa AS (
  SELECT c.indice, c.data, c.comparacao, c.quadrimestre, c.data_carteira,
    p.acao, p.empresa, p.participacao_pct, p.qtd_teorica
  FROM comparacoes c
  JOIN previa p ON p.indice = c.indice AND p.data = c.data
),
lado_carteira AS (
  SELECT c.indice, c.data, c.comparacao, c.quadrimestre, c.data_carteira,
    a.acao, a.empresa, a.participacao_pct, a.qtd_teorica
  FROM comparacoes c
  JOIN carteira a ON a.indice = c.indice AND a.data = c.data_carteira
),
pares AS (
  SELECT
    coalesce(p.indice, a.indice) AS indice,
    coalesce(p.data, a.data) AS data,
    coalesce(p.comparacao, a.comparacao) AS comparacao,
    coalesce(p.quadrimestre, a.quadrimestre) AS quadrimestre,
    coalesce(p.data_carteira, a.data_carteira) AS data_carteira,
    coalesce(p.acao, a.acao) AS acao,
    coalesce(p.empresa, a.empresa) AS empresa,
    CASE WHEN coalesce(p.comparacao, a.comparacao) = 'previa' THEN a.participacao_pct
      ELSE p.participacao_pct END AS participacao_antes_pct,
    CASE WHEN coalesce(p.comparacao, a.comparacao) = 'previa' THEN p.participacao_pct
      ELSE a.participacao_pct END AS participacao_depois_pct,
    CASE WHEN coalesce(p.comparacao, a.comparacao) = 'previa' THEN a.qtd_teorica
      ELSE p.qtd_teorica END AS qtd_teorica_antes,
    CASE WHEN coalesce(p.comparacao, a.comparacao) = 'previa' THEN p.qtd_teorica
      ELSE a.qtd_teorica END AS qtd_teorica_depois
  FROM lado_previa p
  FULL OUTER JOIN lado_carteira a
    ON p.indice = a.indice AND p.data = a.data AND p.comparacao = a.comparacao AND p.acao = a.acao
)
SELECT
  comparacao,
  acao,
  empresa,
  CASE
    WHEN participacao_antes_pct IS NULL THEN 'entrada'
    WHEN participacao_depois_pct IS NULL THEN 'saida'
    ELSE 'permanece'
  END AS tipo_mudanca,
  participacao_antes_pct,
  participacao_depois_pct,
  CAST(coalesce(participacao_depois_pct, 0) - coalesce(participacao_antes_pct, 0) AS DECIMAL(8, 3))
    AS variacao_pp,
  qtd_teorica_antes,
  qtd_teorica_depois,
  quadrimestre,
  data_carteira,
  indice,
  data
FROM pares
