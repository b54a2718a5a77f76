"""What the code location, the Glue job and the Lambda must agree on, written once.

Standard library only, so it ships unchanged in the wheel (`b3_assets` imports it), in the
Lambda's package (`b3 package-lambda`) and to Glue as `--extra-py-files` (`b3 deploy`):

- `tables`: the refined tables' contract (names, columns, partitions, SQL file, lake prefix);
- `lake_keys`: which lake keys are raw inputs of the refine, and the key of a date;
- `glue_runs`: which Glue run states are active, which dates a run covers, which runs are
  refining a date now;
- `glue_job`: the modules Glue installs for the job, pinned to the lock's versions;
- `sessions` (data in `sessions_data`): B3's sessions for the Glue job, which installs no
  exchange_calendars.
"""
