"""The lake (the bucket): a local folder in the embedded default, S3 on AWS, one layout."""
