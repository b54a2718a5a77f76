"""The analytics layer's presentation: charts (matplotlib) and the self-contained HTML report."""
