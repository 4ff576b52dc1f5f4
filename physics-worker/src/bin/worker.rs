//! Entry point of the physics Web Worker bundle (`/worker/worker.<hash>.js`).

use gloo_worker::Registrable;
use physics_worker::codec::FrameCodec;
use physics_worker::worker::PhysicsWorker;

fn main() {
    console_error_panic_hook::set_once();
    // Before the bridge registers: transferred canvases and images must not reach it.
    physics_worker::codec::listen_for_transfers();
    PhysicsWorker::registrar().encoding::<FrameCodec>().register();
}
