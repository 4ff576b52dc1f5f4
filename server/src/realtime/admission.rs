//! Who may open another socket: at most [`MAX_SOCKETS_PER_SUBJECT`] per token subject and
//! [`MAX_SOCKETS_PER_NODE`] per node, so one token cannot hoard connections and a flood cannot
//! exhaust the node. A socket holds its [`Admission`] for its life; dropping it frees the place.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Sockets one subject (a shopper's tabs and devices) may hold on one node.
pub const MAX_SOCKETS_PER_SUBJECT: usize = 8;
/// Sockets one node holds at most.
pub const MAX_SOCKETS_PER_NODE: usize = 20_000;

/// The open sockets of a node, counted.
#[derive(Default)]
pub struct Admissions {
    open: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_subject: HashMap<String, usize>,
}

/// Why a socket was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The subject holds [`MAX_SOCKETS_PER_SUBJECT`] already.
    Subject,
    /// The node holds [`MAX_SOCKETS_PER_NODE`] already.
    Node,
}

/// One admitted socket's place; freed on drop.
pub struct Admission {
    admissions: Arc<Admissions>,
    subject: String,
}

impl Admissions {
    /// Takes a place for a socket of `subject`, within the limits.
    pub fn admit(self: &Arc<Self>, subject: &str) -> Result<Admission, Refusal> {
        let mut open = self.open.lock().expect("admissions lock");
        if open.total >= MAX_SOCKETS_PER_NODE {
            return Err(Refusal::Node);
        }
        let held = open.by_subject.entry(subject.to_string()).or_default();
        if *held >= MAX_SOCKETS_PER_SUBJECT {
            return Err(Refusal::Subject);
        }
        *held += 1;
        open.total += 1;
        Ok(Admission { admissions: self.clone(), subject: subject.to_string() })
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.admissions.open.lock().expect("admissions lock");
        open.total = open.total.saturating_sub(1);
        if let Some(held) = open.by_subject.get_mut(&self.subject) {
            *held -= 1;
            if *held == 0 {
                open.by_subject.remove(&self.subject);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_gets_its_share_and_places_come_back_on_drop() {
        let admissions = Arc::new(Admissions::default());
        let held: Vec<Admission> = (0..MAX_SOCKETS_PER_SUBJECT).map(|_| admissions.admit("ana").unwrap()).collect();
        assert_eq!(admissions.admit("ana").err(), Some(Refusal::Subject));
        assert!(admissions.admit("bo").is_ok(), "others are not held back");
        drop(held);
        assert!(admissions.admit("ana").is_ok(), "closing frees the places");
        assert!(admissions.open.lock().unwrap().by_subject.len() <= 1, "no entry is left for closed subjects");
    }
}
