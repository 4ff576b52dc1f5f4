//! Native side of the determinism check: the committed vectors are what this build computes.
#![cfg(not(target_arch = "wasm32"))]

mod common;

#[test]
fn native_build_matches_the_committed_golden_vectors() {
    let hash = common::state_hash(&common::run_scenario());
    let prices = common::price_samples();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/golden.txt");
        std::fs::write(path, render_golden(hash, &prices)).unwrap();
        return;
    }
    assert_eq!(common::golden(), (hash, prices), "physics or price changed: regenerate with UPDATE_GOLDEN=1");
}

#[test]
fn the_scenario_is_sensitive_to_a_single_bit() {
    let mut bodies = common::run_scenario();
    let before = common::state_hash(&bodies);
    bodies[17].p[0] = f32::from_bits(bodies[17].p[0].to_bits() ^ 1);
    assert_ne!(common::state_hash(&bodies), before);
}

/// Renders the vectors file.
fn render_golden(hash: u64, prices: &[i64]) -> String {
    let mut s =
        String::from("# Golden vectors of tests/common/mod.rs, produced natively; the wasm test must match them.\n");
    s.push_str(&format!("{hash:#018x}\n"));
    for p in prices {
        s.push_str(&format!("{p}\n"));
    }
    s
}
