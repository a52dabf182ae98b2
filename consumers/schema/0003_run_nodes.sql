-- Pedigree warehouse, migration 0003: `run_nodes`, what a graph node shows of a run, one narrow
-- row per run event (consumers/run_nodes.py says why and how it is read).
--
-- The lineage, provenance and run endpoints read a run's state from here instead of aggregating
-- the 45-column `runs` table: the same values per event, packed as one JSON array (`node`),
-- with `present`, the bit set of the fields the event states, to group by. Small granules and
-- compressed blocks, since every read is a handful of random run ids.
--
-- Backfilled from `runs`, so an older warehouse gains the states of the runs it already holds;
-- from then on the consumer writes it (consumers.materialize.rows_for_events). The backfill is
-- `consumers.run_nodes.backfill_sql()` (a test keeps them equal); re-running it after an
-- interruption only adds copies of rows, which the reader's grouping ignores and merges collapse.

CREATE TABLE IF NOT EXISTS {db}.run_nodes
(
    run_id        String,
    event_id      String,
    job_namespace String,
    event_time    DateTime64(6, 'UTC'),
    state_rank    UInt8,
    start_time    Nullable(DateTime64(6, 'UTC')),
    end_time      Nullable(DateTime64(6, 'UTC')),
    present       UInt64,
    node          String CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
ORDER BY (run_id, event_id)
SETTINGS index_granularity = 256, min_compress_block_size = 4096, max_compress_block_size = 16384,
    non_replicated_deduplication_window = 1000;

INSERT INTO {db}.run_nodes
SELECT run_id, event_id, job_namespace, event_time, state_rank, start_time, end_time,
    bitShiftLeft(toUInt64(job_namespace != ''), 0) +
    bitShiftLeft(toUInt64(job_name != ''), 1) +
    bitShiftLeft(toUInt64(parent_run_id != ''), 2) +
    bitShiftLeft(toUInt64(root_run_id != ''), 3) +
    bitShiftLeft(toUInt64(git_repo != ''), 4) +
    bitShiftLeft(toUInt64(git_commit != ''), 5) +
    bitShiftLeft(toUInt64(git_branch != ''), 6) +
    bitShiftLeft(toUInt64(git_diff_hash != ''), 7) +
    bitShiftLeft(toUInt64(image != ''), 8) +
    bitShiftLeft(toUInt64(image_digest != ''), 9) +
    bitShiftLeft(toUInt64(entry_point != ''), 10) +
    bitShiftLeft(toUInt64(submitter != ''), 11) +
    bitShiftLeft(toUInt64(code_author != ''), 12) +
    bitShiftLeft(toUInt64(deployer != ''), 13) +
    bitShiftLeft(toUInt64(team != ''), 14) +
    bitShiftLeft(toUInt64(error_message != ''), 15) +
    bitShiftLeft(toUInt64(requested_gpu_model != ''), 16) +
    bitShiftLeft(toUInt64(host != ''), 17) +
    bitShiftLeft(toUInt64(observed_gpu_model != ''), 18) +
    bitShiftLeft(toUInt64(k8s_namespace != ''), 19) +
    bitShiftLeft(toUInt64(k8s_pod != ''), 20) +
    bitShiftLeft(toUInt64(git_dirty IS NOT NULL), 21) +
    bitShiftLeft(toUInt64(requested_cpu_count IS NOT NULL), 22) +
    bitShiftLeft(toUInt64(requested_memory_bytes IS NOT NULL), 23) +
    bitShiftLeft(toUInt64(requested_gpu_count IS NOT NULL), 24) +
    bitShiftLeft(toUInt64(requested_gpu_memory_bytes IS NOT NULL), 25) +
    bitShiftLeft(toUInt64(observed_cpu_count IS NOT NULL), 26) +
    bitShiftLeft(toUInt64(observed_memory_bytes IS NOT NULL), 27) +
    bitShiftLeft(toUInt64(observed_gpu_count IS NOT NULL), 28) +
    bitShiftLeft(toUInt64(observed_gpu_memory_bytes IS NOT NULL), 29) +
    bitShiftLeft(toUInt64(notEmpty(arguments)), 30) +
    bitShiftLeft(toUInt64(notEmpty(parameters)), 31),
    toJSONString(tuple(
        toString(event_type),
        job_namespace,
        job_name,
        parent_run_id,
        root_run_id,
        git_repo,
        git_commit,
        git_branch,
        git_diff_hash,
        image,
        image_digest,
        entry_point,
        submitter,
        code_author,
        deployer,
        team,
        error_message,
        requested_gpu_model,
        host,
        observed_gpu_model,
        k8s_namespace,
        k8s_pod,
        git_dirty,
        requested_cpu_count,
        requested_memory_bytes,
        requested_gpu_count,
        requested_gpu_memory_bytes,
        observed_cpu_count,
        observed_memory_bytes,
        observed_gpu_count,
        observed_gpu_memory_bytes,
        arguments,
        parameters
    ))
FROM {db}.runs;
