-- Pedigree warehouse, migration 0001: the raw event log and every table derived from it.
--
-- One SQL source for the embedded engine (chdb) and a ClickHouse server; `consumers.migrate`
-- replaces {db} with the target database, and `consumers.migrate.cluster_ddl` generates the
-- ON CLUSTER / Replicated* variant. Every column is documented in docs/warehouse.md.
--
-- Every table is a ReplacingMergeTree whose sorting key ends in `event_id` (plus a row
-- discriminator where one event yields several rows), so a replayed event collapses at merge;
-- `non_replicated_deduplication_window` makes insert_deduplication_token work on a
-- non-replicated engine (chdb), so a replayed batch is dropped at insert already.

CREATE TABLE IF NOT EXISTS {db}.events
(
    event_id       String,
    event_time     DateTime64(6, 'UTC'),
    event_kind     LowCardinality(String),
    event_type     LowCardinality(String),
    run_id         String,
    job_namespace  String,
    job_name       String,
    dataset_namespace String,
    dataset_name   String,
    producer       String,
    topic          String,
    partition      Int32,
    offset         Int64,
    received_time  DateTime64(6, 'UTC'),
    message_format LowCardinality(String),
    message        String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
ORDER BY (run_id, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS {db}.runs
(
    run_id                 String,
    event_id               String,
    event_time             DateTime64(6, 'UTC'),
    event_type             LowCardinality(String),
    state_rank             UInt8,
    start_time             Nullable(DateTime64(6, 'UTC')),
    end_time               Nullable(DateTime64(6, 'UTC')),
    job_namespace          String,
    job_name               String,
    parent_run_id          String,
    parent_job_namespace   String,
    parent_job_name        String,
    root_run_id            String,
    root_job_namespace     String,
    root_job_name          String,
    git_repo               String,
    git_commit             String,
    git_branch             String,
    git_dirty              Nullable(Bool),
    git_diff_hash          String,
    image                  String,
    image_digest           String,
    entry_point            String,
    arguments              Array(String),
    parameters             Map(String, String),
    submitter              String,
    code_author            String,
    deployer               String,
    team                   String,
    error_message          String,
    error_stack_trace      String,
    requested_cpu_count    Nullable(Float64),
    requested_memory_bytes Nullable(Int64),
    requested_gpu_count    Nullable(Int64),
    requested_gpu_model    String,
    requested_gpu_memory_bytes Nullable(Int64),
    observed_cpu_count     Nullable(Float64),
    observed_memory_bytes  Nullable(Int64),
    observed_gpu_count     Nullable(Int64),
    observed_gpu_model     String,
    observed_gpu_memory_bytes Nullable(Int64),
    host                   String,
    python_version         String,
    packages_hash          String,
    k8s_namespace          String,
    k8s_pod                String,
    k8s_node               String,
    traceparent            String,
    producer               String
)
ENGINE = ReplacingMergeTree
ORDER BY (run_id, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS {db}.jobs
(
    job_namespace   String,
    job_name        String,
    event_id        String,
    event_time      DateTime64(6, 'UTC'),
    processing_type String,
    integration     String,
    job_type        String,
    source_type     String,
    source_url      String,
    source_repo_url String,
    source_path     String,
    source_version  String,
    source_branch   String,
    owners          Array(Tuple(name String, type String))
)
ENGINE = ReplacingMergeTree
ORDER BY (job_namespace, job_name, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Lineage edges, each stored twice: ordered by run (what did this run read / write?) and
-- ordered by dataset version (who read / wrote this version?).

CREATE TABLE IF NOT EXISTS {db}.run_inputs
(
    run_id            String,
    dataset_namespace String,
    dataset_name      String,
    dataset_version   String,
    event_id          String,
    event_time        DateTime64(6, 'UTC'),
    event_type        LowCardinality(String),
    job_namespace     String,
    job_name          String
)
ENGINE = ReplacingMergeTree
ORDER BY (run_id, dataset_namespace, dataset_name, dataset_version, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS {db}.run_inputs_by_dataset
(
    run_id            String,
    dataset_namespace String,
    dataset_name      String,
    dataset_version   String,
    event_id          String,
    event_time        DateTime64(6, 'UTC'),
    event_type        LowCardinality(String),
    job_namespace     String,
    job_name          String
)
ENGINE = ReplacingMergeTree
ORDER BY (dataset_namespace, dataset_name, dataset_version, run_id, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS {db}.run_outputs
(
    run_id            String,
    dataset_namespace String,
    dataset_name      String,
    dataset_version   String,
    event_id          String,
    event_time        DateTime64(6, 'UTC'),
    event_type        LowCardinality(String),
    job_namespace     String,
    job_name          String
)
ENGINE = ReplacingMergeTree
ORDER BY (run_id, dataset_namespace, dataset_name, dataset_version, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS {db}.run_outputs_by_dataset
(
    run_id            String,
    dataset_namespace String,
    dataset_name      String,
    dataset_version   String,
    event_id          String,
    event_time        DateTime64(6, 'UTC'),
    event_type        LowCardinality(String),
    job_namespace     String,
    job_name          String
)
ENGINE = ReplacingMergeTree
ORDER BY (dataset_namespace, dataset_name, dataset_version, run_id, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS {db}.datasets
(
    dataset_namespace String,
    dataset_name      String,
    event_id          String,
    role              LowCardinality(String),
    event_time        DateTime64(6, 'UTC'),
    storage_layer     String,
    file_format       String,
    owners            Array(Tuple(name String, type String))
)
ENGINE = ReplacingMergeTree
ORDER BY (dataset_namespace, dataset_name, event_id, role)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS {db}.dataset_versions
(
    dataset_namespace String,
    dataset_name      String,
    dataset_version   String,
    event_id          String,
    role              LowCardinality(String),
    event_time        DateTime64(6, 'UTC'),
    run_id            String,
    schema_fields     Array(Tuple(name String, type String, description String, fields String)),
    row_count         Nullable(Int64),
    size_bytes        Nullable(Int64),
    file_count        Nullable(Int64),
    label_set         String,
    label_version     String,
    label_task        String
)
ENGINE = ReplacingMergeTree
ORDER BY (dataset_namespace, dataset_name, dataset_version, event_id, role)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS {db}.models
(
    model_name        String,
    event_id          String,
    role              LowCardinality(String),
    event_time        DateTime64(6, 'UTC'),
    framework         String,
    dataset_namespace String,
    dataset_name      String
)
ENGINE = ReplacingMergeTree
ORDER BY (model_name, event_id, role)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS {db}.model_versions
(
    model_name        String,
    model_version     String,
    event_id          String,
    role              LowCardinality(String),
    event_time        DateTime64(6, 'UTC'),
    framework         String,
    stage             String,
    metrics           Map(String, Float64),
    dataset_namespace String,
    dataset_name      String,
    dataset_version   String,
    run_id            String
)
ENGINE = ReplacingMergeTree
ORDER BY (model_name, model_version, event_id, role)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS {db}.resource_samples
(
    run_id           String,
    host             String,
    device           String,
    sample_time      DateTime64(6, 'UTC'),
    event_id         String,
    sample_index     UInt32,
    cpu_percent      Nullable(Float64),
    rss_bytes        Nullable(Int64),
    gpu_util_percent Nullable(Float64),
    gpu_memory_bytes Nullable(Int64)
)
ENGINE = ReplacingMergeTree
ORDER BY (run_id, host, device, sample_time, event_id, sample_index)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS {db}.facets
(
    run_id            String,
    job_namespace     String,
    job_name          String,
    container         LowCardinality(String),
    dataset_namespace String,
    dataset_name      String,
    facet_key         String,
    event_id          String,
    event_time        DateTime64(6, 'UTC'),
    facet_json        String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
ORDER BY (run_id, job_namespace, job_name, container, dataset_namespace, dataset_name, facet_key, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
