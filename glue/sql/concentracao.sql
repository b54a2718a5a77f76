-- carteira_concentracao: one row per index and trading date (b3_contract.tables). Spark SQL over
-- the view `carteira`. hhi is the Herfindahl-Hirschman index on percent weights (0 to 10,000,
-- exact: a sum of squares of B3's three-decimal weights); numero_efetivo is 1/HHI on fractions
-- (10,000/hhi), the number of equal weights that would be as concentrated. The largest sector is
-- null for a capture without sectors.
WITH totais AS (
  SELECT
    indice,
    data,
    count(*) AS total_ativos,
    sum(CASE WHEN ranking <= 1 THEN participacao_pct ELSE 0 END) AS peso_top1,
    sum(CASE WHEN ranking <= 5 THEN participacao_pct ELSE 0 END) AS peso_top5,
    sum(CASE WHEN ranking <= 10 THEN participacao_pct ELSE 0 END) AS peso_top10,
    sum(participacao_pct * participacao_pct) AS hhi
  FROM carteira
  GROUP BY indice, data
),
setores AS (
  SELECT indice, data, setor, sum(participacao_pct) AS peso
  FROM carteira
  WHERE setor IS NOT NULL
  GROUP BY indice, data, setor
),
maiores AS (
  SELECT
    indice,
    data,
    setor,
    peso,
    row_number() OVER (PARTITION BY indice, data ORDER BY peso DESC, setor ASC) AS ordem
  FROM setores
)
SELECT
  CAST(t.total_ativos AS INT) AS total_ativos,
  CAST(t.peso_top1 AS DECIMAL(7, 3)) AS peso_top1_pct,
  CAST(t.peso_top5 AS DECIMAL(7, 3)) AS peso_top5_pct,
  CAST(t.peso_top10 AS DECIMAL(7, 3)) AS peso_top10_pct,
  CAST(t.hhi AS DECIMAL(12, 6)) AS hhi,
  CASE WHEN t.hhi > 0 THEN CAST(CAST(10000 AS DOUBLE) / CAST(t.hhi AS DOUBLE) AS DECIMAL(10, 3)) END
    AS numero_efetivo,
  m.setor AS setor_maior,
  CAST(m.peso AS DECIMAL(7, 3)) AS peso_setor_maior_pct,
  t.indice,
  t.data
FROM totais t
LEFT JOIN maiores m ON m.indice = t.indice AND m.data = t.data AND m.ordem = 1
