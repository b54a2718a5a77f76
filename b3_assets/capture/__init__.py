"""The raw and bronze layers under $B3_DATA_DIR, and the file primitives they stand on."""
