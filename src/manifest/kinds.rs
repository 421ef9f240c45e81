//! Which documents of the gitops group are meant for pg-gitops.
//!
//! KubeDB's `gitops.kubedb.com` group also serves its other databases (read by KubeDB's own
//! gitops operator), so those kinds are skipped with a notice. Any other kind in the group is
//! taken for a misspelt `Postgres`: skipped as a notice, that database would silently never
//! be reconciled, and with pruning its gitops object would be deleted.

/// The group of the gitops objects.
const GITOPS_GROUP: &str = "gitops.kubedb.com";

/// KubeDB's database kinds (kubedb.com), which its gitops group may serve besides Postgres.
const OTHER_DATABASE_KINDS: [&str; 31] = [
    "Cassandra",
    "ClickHouse",
    "DocumentDB",
    "Druid",
    "Elasticsearch",
    "Etcd",
    "FerretDB",
    "HanaDB",
    "Hazelcast",
    "Ignite",
    "Kafka",
    "MariaDB",
    "Memcached",
    "Milvus",
    "MongoDB",
    "MSSQLServer",
    "MySQL",
    "Neo4j",
    "Oracle",
    "PerconaXtraDB",
    "PgBouncer",
    "Pgpool",
    "ProxySQL",
    "Qdrant",
    "RabbitMQ",
    "Redis",
    "RedisSentinel",
    "Singlestore",
    "Solr",
    "Weaviate",
    "ZooKeeper",
];

/// True for a document of the gitops group whose kind is neither `Postgres` nor another
/// KubeDB database: a misspelt `Postgres`.
pub(crate) fn is_misspelt_kind(api_version: &str, kind: &str) -> bool {
    let group = api_version.split_once('/').map_or("", |(group, _)| group);
    group == GITOPS_GROUP && kind != "Postgres" && !OTHER_DATABASE_KINDS.contains(&kind)
}
