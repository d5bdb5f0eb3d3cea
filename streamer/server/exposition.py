"""Process snapshots as Prometheus metric families, for prometheus_client's encoders (no I/O).

Every series of a process carries its ``process`` label (``host:pid``); the export jobs are
shared by every process and carry none. The names and what they count are listed in
docs/scaling.md ("Metrics").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

# (snapshot section, field, metric name, counter?, help); counters get "_total" from the library.
PROCESS_SERIES = (
    (None, "channels", "streamer_channels", False, "Channels this process runs (each runs in one process)"),
    (None, "waiting", "streamer_waiting_viewers", False, "Connections here waiting for a channel to be created"),
    ("sent", "messages", "streamer_messages_sent", True, "Channel messages written to viewers here, one per viewer"),
    ("sent", "frames", "streamer_frames_sent", True, "Frame changes in those messages, one per viewer"),
    ("sent", "late_frames", "streamer_late_frames", True, "Of those frames, written after their presentation time"),
    ("sent", "slow_viewers", "streamer_slow_viewers_closed", True, "Viewers closed for falling behind (4008)"),
    ("frames", "hits", "streamer_frame_cache_hits", True, "Frame requests answered from the cache"),
    ("frames", "misses", "streamer_frame_cache_misses", True, "Frame requests that waited for a fetch"),
    ("frames", "store_gets", "streamer_frame_store_gets", True, "Fetches from the frame store (local or S3)"),
    ("frames", "prefetches", "streamer_frame_cache_prefetches", True, "Frames fetched ahead of their request"),
    ("frames", "errors", "streamer_frame_store_errors", True, "Fetches from the frame store that failed"),
    ("frames", "evictions", "streamer_frame_cache_evictions", True, "Frames evicted from the cache"),
    ("frames", "bytes", "streamer_frame_cache_bytes", False, "Bytes held in the frame cache"),
    ("frames", "entries", "streamer_frame_cache_entries", False, "Frames held in the frame cache"),
    ("frames", "capacity_bytes", "streamer_frame_cache_capacity_bytes", False, "The frame cache's budget in bytes"),
    ("os", "process_cpu_seconds", "process_cpu_seconds", True, "CPU time (user and system) in seconds"),
    ("os", "process_resident_memory_bytes", "process_resident_memory_bytes", False, "Resident memory in bytes"),
    ("os", "process_open_fds", "process_open_fds", False, "Open file descriptors (sockets included)"),
    ("os", "process_start_time_seconds", "process_start_time_seconds", False, "Start time, Unix seconds"),
)
ROLES = ("viewer", "controller")


def _family(name: str, counter: bool, documentation: str, labels: list[str]) -> CounterMetricFamily | GaugeMetricFamily:
    if counter:
        return CounterMetricFamily(name, documentation, labels=labels)
    return GaugeMetricFamily(name, documentation, labels=labels)


def process_families(snapshots: Iterable[dict[str, Any]]) -> list[Metric]:
    """One family per figure, with a sample per process (a figure a snapshot lacks is left out)."""
    snapshots = list(snapshots)
    families: list[Metric] = []
    viewers = GaugeMetricFamily(
        "streamer_viewers", "Connections here watching a channel, by role", labels=["process", "role"]
    )
    for snap in snapshots:
        for role in ROLES:
            viewers.add_metric([snap["process"], role], snap["viewers"][role])
    families.append(viewers)
    for section, field, name, counter, documentation in PROCESS_SERIES:
        family = _family(name, counter, documentation, ["process"])
        for snap in snapshots:
            values = snap if section is None else snap.get(section, {})
            if field in values:
                family.add_metric([snap["process"]], values[field])
        families.append(family)
    return families


def export_families(exports: dict[str, Any]) -> list[Metric]:
    """The export jobs by status, and the workers alive (with ``REDIS_URL``)."""
    jobs = GaugeMetricFamily(
        "streamer_export_jobs",
        "Export jobs by status (queued is the queue's depth; finished jobs count until they expire)",
        labels=["state"],
    )
    for status, count in exports["jobs"].items():
        jobs.add_metric([status], count)
    families: list[Metric] = [jobs]
    if exports["workers"] is not None:
        workers = GaugeMetricFamily("streamer_export_workers", "streamer worker processes alive", exports["workers"])
        families.append(workers)
    return families


class Exposition:
    """The families of ``snapshots`` and ``exports`` (None: unknown), as a prometheus_client collector."""

    def __init__(self, snapshots: list[dict[str, Any]], exports: dict[str, Any] | None) -> None:
        self.snapshots, self.exports = snapshots, exports

    def collect(self) -> Iterator[Metric]:
        yield from process_families(self.snapshots)
        if self.exports is not None:
            yield from export_families(self.exports)
