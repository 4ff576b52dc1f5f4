//! The manifold against synthetic snapshot streams (also run in Chromium by `tests/wasm.rs`).

#[allow(dead_code)] // the golden scenario in `common` belongs to tests/golden.rs
mod common;

use common::streams;
use physics_worker::manifold::ClockSync;

#[test]
fn interpolation_under_jitter_shows_the_truth() {
    streams::check_interpolation_under_jitter();
}

#[test]
fn loss_and_reordering_keep_the_error_small() {
    streams::check_loss_and_reordering();
}

#[test]
fn extrapolation_is_capped_then_held() {
    streams::check_extrapolation_cap();
}

#[test]
fn a_confirmed_flick_reconciles_without_a_snap() {
    streams::check_prediction_reconciles_without_snaps(false);
}

#[test]
fn a_refused_flick_undoes_itself_without_a_snap() {
    streams::check_prediction_reconciles_without_snaps(true);
}

#[test]
fn another_shoppers_forecast_flick_shows_at_once_and_its_tick_changes_nothing() {
    streams::check_forecast(false);
}

#[test]
fn a_refused_forecast_rolls_back_within_the_reconciliation_window() {
    streams::check_forecast(true);
}

#[test]
fn forecasts_that_cannot_help_are_ignored() {
    use physics_worker::manifold::{Manifold, MAX_FORECASTS};
    let mut server = streams::Server::new(8);
    let mut manifold = Manifold::new();
    assert!(!manifold.on_forecast(1, 1, None, 0.0), "before the sync");
    let t0 = streams::Server::t(0);
    manifold.on_sync(server.params.tick_ms(), &server.catalog(), 0, t0, &server.states(), t0);
    let sent = server.tick(None);
    manifold.on_state(sent.n, sent.t, &sent.list, sent.t);
    assert!(!manifold.on_forecast(8, 5, None, t0), "an unknown product");
    assert!(!manifold.on_forecast(1, 1, Some([1.0, 0.0, 0.0]), t0), "a tick already confirmed");
    assert!(!manifold.on_forecast(1, 5, Some([f32::NAN, 0.0, 0.0]), t0), "a bad impulse");
    for _ in 0..MAX_FORECASTS {
        assert!(manifold.on_forecast(1, 5, None, t0));
    }
    assert!(!manifold.on_forecast(1, 5, None, t0), "past the cap");
    assert_eq!(manifold.forecasts_pending(), MAX_FORECASTS);
}

#[test]
fn clock_sync_keeps_the_fastest_round_trip() {
    let mut clock = ClockSync::default();
    // Server clock 500 ms ahead; one-way 10 ms, plus queueing on some samples.
    for (sent, queue) in [(0.0, 40.0), (100.0, 0.0), (200.0, 25.0), (300.0, 80.0)] {
        let server = sent + 10.0 + queue + 500.0;
        clock.on_pong(sent, server, sent + 20.0 + queue);
    }
    assert_eq!(clock.rtt_ms(), 20.0);
    assert_eq!(clock.offset_ms(), Some(500.0));
}

#[test]
fn the_interpolation_delay_follows_jitter_up_to_one_tick() {
    let calm = streams::Network { latency_ms: 20.0, jitter_ms: 0.0, loss: 0.0, reorder: 0.0 };
    let (_, manifold, _) = streams::run(8, 100, &calm, 3);
    assert!(manifold.interpolation_delay_ms() <= 3.0, "{}", manifold.interpolation_delay_ms());
    let rough = streams::Network { latency_ms: 20.0, jitter_ms: 40.0, loss: 0.0, reorder: 0.0 };
    let (_, manifold, _) = streams::run(8, 100, &rough, 3);
    assert!(manifold.interpolation_delay_ms() > 10.0 && manifold.interpolation_delay_ms() <= streams::TICK_MS);
}
