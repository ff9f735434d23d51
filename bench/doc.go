// Package bench holds livebill's service benchmarks (issue 7), as Go
// benchmarks in its test files: durable HTTP ingest through the server on
// SQLite and PostgreSQL (ingest_test.go), daily settlement of 100,000 apps
// (settle_test.go), metering memory with 1M concurrent in-room users
// (memory_test.go), and admission: decisions over loopback HTTP and lease
// acquire+release pairs (admission_test.go), and ingestion through NATS
// JetStream with the settlement lag of 1, 2 and 3 queue workers
// (queue_test.go). docs/performance.md and docs/scale-out.md give the
// commands and figures.
package bench
