//! Engine counters, rendered as Prometheus text on `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters shared by the engine loop and the `/metrics` handler.
#[derive(Debug, Default)]
pub struct EngineMetrics {
    ticks: AtomicU64,
    overruns: AtomicU64,
    gestures: AtomicU64,
    last_tick_micros: AtomicU64,
    tick_micros_sum: AtomicU64,
    products: AtomicU64,
    leader: AtomicU64,
}

impl EngineMetrics {
    /// Records a completed tick; it overran when it took longer than the tick interval.
    pub fn record_tick(&self, took: Duration, interval: Duration) {
        let micros = took.as_micros() as u64;
        self.ticks.fetch_add(1, Ordering::Relaxed);
        self.last_tick_micros.store(micros, Ordering::Relaxed);
        self.tick_micros_sum.fetch_add(micros, Ordering::Relaxed);
        if took > interval {
            self.overruns.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts gestures handed to the engine.
    pub fn add_gestures(&self, count: usize) {
        self.gestures.fetch_add(count as u64, Ordering::Relaxed);
    }

    /// Whether this node leads, and over how many products.
    pub fn set_leader(&self, leading: bool, products: usize) {
        self.leader.store(leading as u64, Ordering::Relaxed);
        self.products.store(products as u64, Ordering::Relaxed);
    }

    /// Ticks run by this node.
    pub fn ticks(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }

    /// Whether this node leads now.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed) == 1
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut metric =
            |name: &str, kind: &str, help: &str, value: f64| write_metric(&mut out, name, kind, help, value);
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        metric("swiftcart_engine_ticks_total", "counter", "Engine ticks run by this node.", get(&self.ticks) as f64);
        metric(
            "swiftcart_engine_tick_overruns_total",
            "counter",
            "Ticks that took longer than the tick interval.",
            get(&self.overruns) as f64,
        );
        metric(
            "swiftcart_engine_tick_seconds_last",
            "gauge",
            "Duration of the last tick.",
            get(&self.last_tick_micros) as f64 / 1e6,
        );
        metric(
            "swiftcart_engine_tick_seconds_sum",
            "counter",
            "Total time spent in ticks.",
            get(&self.tick_micros_sum) as f64 / 1e6,
        );
        metric(
            "swiftcart_engine_gestures_total",
            "counter",
            "Gestures handed to the engine.",
            get(&self.gestures) as f64,
        );
        metric(
            "swiftcart_engine_products",
            "gauge",
            "Products stepped by this node (0 when not leading).",
            get(&self.products) as f64,
        );
        metric(
            "swiftcart_engine_leader",
            "gauge",
            "1 when this node holds the engine lease.",
            get(&self.leader) as f64,
        );
        out
    }
}

/// Appends one metric in the Prometheus text format (the one writer of `/metrics` lines).
pub fn write_metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
}
