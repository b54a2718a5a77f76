-- carteira_mudancas: for each index and date with a captured previous session of that index, each
-- ticker that entered, left, or changed weight or quantity since it (b3_contract.tables). Spark SQL
-- over the views `carteira` (the run's dates and the captured sessions around them) and `pregoes`
-- (B3's sessions from the first day of the earliest month read).
-- pregoes_desde_anterior counts sessions: 1 is the session before, more is a gap in the captures.
-- A rebalance (the first session of January, May or September) inside (data_anterior, data] marks
-- the change as one; any other change is in between (a corporate event, an exclusion).
WITH datas AS (
  SELECT DISTINCT indice, data FROM carteira
),
pares AS (
  SELECT indice, data, lag(data) OVER (PARTITION BY indice ORDER BY data) AS data_anterior
  FROM datas
),
numerados AS (
  SELECT data, row_number() OVER (ORDER BY data) AS numero FROM pregoes
),
rebalanceamentos AS (
  SELECT min(data) AS data
  FROM pregoes
  GROUP BY year(data), month(data)
  HAVING month(min(data)) IN (1, 5, 9)
),
janelas AS (
  SELECT
    p.indice,
    p.data,
    p.data_anterior,
    CAST(atual.numero - anterior.numero AS INT) AS pregoes_desde_anterior,
    max(r.data) AS data_rebalanceamento
  FROM pares p
  LEFT JOIN numerados atual ON atual.data = p.data
  LEFT JOIN numerados anterior ON anterior.data = p.data_anterior
  LEFT JOIN rebalanceamentos r ON r.data > p.data_anterior AND r.data <= p.data
  WHERE p.data_anterior IS NOT NULL
  GROUP BY p.indice, p.data, p.data_anterior, atual.numero, anterior.numero
),
atual AS (
  SELECT j.indice, j.data, c.acao, c.empresa, c.setor, c.participacao_pct, c.qtd_teorica
  FROM janelas j
  JOIN carteira c ON c.indice = j.indice AND c.data = j.data
),
anterior AS (
  SELECT j.indice, j.data, c.acao, c.empresa, c.setor, c.participacao_pct, c.qtd_teorica
  FROM janelas j
  JOIN carteira c ON c.indice = j.indice AND c.data = j.data_anterior
),
comparados AS (
  SELECT
    coalesce(a.indice, b.indice) AS indice,
    coalesce(a.data, b.data) AS data,
    coalesce(a.acao, b.acao) AS acao,
    CASE
      WHEN b.acao IS NULL THEN 'entrada'
      WHEN a.acao IS NULL THEN 'saida'
      WHEN a.qtd_teorica <> b.qtd_teorica THEN 'quantidade'
      ELSE 'peso'
    END AS tipo_mudanca,
    coalesce(a.empresa, b.empresa) AS empresa,
    coalesce(a.setor, b.setor) AS setor,
    b.participacao_pct AS participacao_anterior_pct,
    a.participacao_pct AS participacao_pct,
    b.qtd_teorica AS qtd_teorica_anterior,
    a.qtd_teorica AS qtd_teorica
  FROM atual a
  FULL OUTER JOIN anterior b ON a.indice = b.indice AND a.data = b.data AND a.acao = b.acao
)
SELECT
  c.acao,
  c.tipo_mudanca,
  c.empresa,
  c.setor,
  c.participacao_anterior_pct,
  c.participacao_pct,
  CAST(coalesce(c.participacao_pct, 0) - coalesce(c.participacao_anterior_pct, 0) AS DECIMAL(8, 3))
    AS variacao_pp,
  c.qtd_teorica_anterior,
  c.qtd_teorica,
  CASE WHEN c.qtd_teorica_anterior > 0 THEN CAST(
    CAST(c.qtd_teorica - c.qtd_teorica_anterior AS DOUBLE) * 100
      / CAST(c.qtd_teorica_anterior AS DOUBLE) AS DECIMAL(12, 4)
  ) END AS variacao_qtd_pct,
  j.data_anterior,
  j.pregoes_desde_anterior,
  j.data_rebalanceamento IS NOT NULL AS rebalanceamento,
  j.data_rebalanceamento,
  c.indice,
  c.data
FROM comparados c
JOIN janelas j ON j.indice = c.indice AND j.data = c.data
WHERE c.tipo_mudanca <> 'peso' OR c.participacao_pct <> c.participacao_anterior_pct
