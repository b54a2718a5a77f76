"""B3 itself: the HTTP client, the response models and pt-BR number parsing, the CSV downloads,
the trading calendar, and the rule of which date B3 serves."""
