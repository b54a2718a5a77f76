"""boto3 adapters: clients and error messages, Athena queries, `b3 deploy`."""
