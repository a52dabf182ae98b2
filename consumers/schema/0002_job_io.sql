-- Pedigree warehouse, migration 0002: lineage edges ordered by job, for the job-level lineage
-- graph (Marquez's `job:ns:name` nodes): "what does job X read and write?" is a primary-key
-- range read, as "what did run X read?" (run_inputs) and "who read dataset version Y?"
-- (run_inputs_by_dataset) already are.
--
-- Backfilled from the edge tables of migration 0001, so an older warehouse gains the table with
-- its history; from then on the consumer writes it (consumers.materialize.rows_for_events).

CREATE TABLE IF NOT EXISTS {db}.job_io
(
    job_namespace     String,
    job_name          String,
    role              LowCardinality(String),
    dataset_namespace String,
    dataset_name      String,
    dataset_version   String,
    run_id            String,
    event_id          String,
    event_time        DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (job_namespace, job_name, role, dataset_namespace, dataset_name, dataset_version, run_id, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

INSERT INTO {db}.job_io
SELECT job_namespace, job_name, 'input', dataset_namespace, dataset_name, dataset_version,
       run_id, event_id, event_time
FROM {db}.run_inputs;

INSERT INTO {db}.job_io
SELECT job_namespace, job_name, 'output', dataset_namespace, dataset_name, dataset_version,
       run_id, event_id, event_time
FROM {db}.run_outputs;
