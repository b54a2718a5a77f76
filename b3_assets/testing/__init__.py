"""Test doubles shipped for the tests and for offline use: a local B3 server, a generator of
realistic B3 responses (`b3 run --offline`), and a local runner of the Glue job
(B3_GLUE_RUNNER=local, against moto or LocalStack). No production path depends on them."""
