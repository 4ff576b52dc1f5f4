//! The browser side: a gloo-worker that runs off the main thread.
//!
//! The page talks to it with [`Command`]s and hears back [`Event`]s (the design's Command/Event
//! interface). The manifold itself (socket, clock sync, jitter buffer) arrives with the Alive UI.

use gloo_worker::{HandlerId, Worker, WorkerScope};
use serde::{Deserialize, Serialize};

use crate::physics::{self, Body, StepScratch, WellParams};
use crate::wire::PROTOCOL_VERSION;

/// What the page asks of the worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Command {
    /// Say which wire protocol the worker speaks.
    Hello,
    /// Advance these bodies by `steps` fixed steps with the shared integrator.
    Simulate {
        /// The starting state.
        bodies: Vec<Body>,
        /// How many steps.
        steps: u32,
    },
}

/// What the worker tells the page.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Event {
    /// Answer to [`Command::Hello`].
    Ready {
        /// The wire protocol version.
        protocol_version: u32,
    },
    /// Answer to [`Command::Simulate`].
    Simulated(Vec<Body>),
}

/// The physics worker.
pub struct PhysicsWorker {
    params: WellParams,
    scratch: StepScratch,
}

impl Worker for PhysicsWorker {
    type Message = ();
    type Input = Command;
    type Output = Event;

    fn create(_scope: &WorkerScope<Self>) -> Self {
        Self { params: WellParams::default(), scratch: StepScratch::default() }
    }

    fn update(&mut self, _scope: &WorkerScope<Self>, _msg: Self::Message) {}

    fn received(&mut self, scope: &WorkerScope<Self>, command: Self::Input, who: HandlerId) {
        let event = match command {
            Command::Hello => Event::Ready { protocol_version: PROTOCOL_VERSION },
            Command::Simulate { mut bodies, steps } => {
                for _ in 0..steps {
                    physics::step(&mut bodies, &self.params, &mut self.scratch);
                }
                Event::Simulated(bodies)
            }
        };
        scope.respond(who, event);
    }
}
