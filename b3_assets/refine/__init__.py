"""From the lake's raw objects to queryable tables: the refine SQL on DuckDB, the local catalog
and its queries, the data-quality rules, and the sensors' pure logic."""
