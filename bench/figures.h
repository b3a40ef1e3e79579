#pragma once
// The benchmark's figures, by where they are measured.

#include "bench/harness.h"

namespace execaudit::bench {

/// On the real node path: containers, the recorder process, the peers. Needs root.
void node_figures(const Scale& scale, Report& report);
/// In-process: the session tracker and the database writer, fed as fast as they take it.
void ingest_figures(const Scale& scale, Report& report);
/// In-process: bytes per kubelet probe run, each its own row and folded (docs/kubelet-execs.md).
void probe_figures(const Scale& scale, Report& report);
/// Cluster mode: a node's recorder uploading to a real collector on a real PostgreSQL 15. Needs root.
void cluster_figures(const Scale& scale, Report& report);
/// Empty when the cluster figures can run here; otherwise why not.
std::string missing_for_cluster_figures();
/// Pods from the API server: list time and memory for 5,000 pods, and after watch bursts. Needs root.
void pods_figures(const Scale& scale, Report& report);
/// Replay: seeking in an 8-hour, 300 MB session (runs replay_seek_bench), and the peak RSS of `play` on it.
void seek_figures(const Scale& scale, Report& report);

}  // namespace execaudit::bench
