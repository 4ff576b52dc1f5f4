//! Who may open another socket: at most [`MAX_SOCKETS_PER_SUBJECT`] per token subject, a
//! configured number per client address and [`MAX_SOCKETS_PER_NODE`] per node, so one token or
//! one machine cannot hoard connections and a flood cannot exhaust the node. A socket holds its
//! [`Admission`] for its life; dropping it frees the place.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::auth::Subject;

/// Sockets one subject (a shopper's tabs and devices) may hold on one node.
pub const MAX_SOCKETS_PER_SUBJECT: usize = 8;
/// Sockets one node holds at most.
pub const MAX_SOCKETS_PER_NODE: usize = 20_000;

/// The open sockets of a node, counted.
#[derive(Default)]
pub struct Admissions {
    open: Mutex<Counts>,
    /// Sockets one client address may hold; `None`: no limit.
    per_address: Option<usize>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_subject: HashMap<Subject, usize>,
    by_address: HashMap<IpAddr, usize>,
}

/// Takes one from the count under `key`, forgetting keys that reach zero.
pub(crate) fn release<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(held) = counts.get_mut(key) {
        *held -= 1;
        if *held == 0 {
            counts.remove(key);
        }
    }
}

/// Why a socket was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The subject holds [`MAX_SOCKETS_PER_SUBJECT`] already.
    Subject,
    /// The client address holds its share already.
    Address,
    /// The node holds [`MAX_SOCKETS_PER_NODE`] already.
    Node,
}

/// One admitted socket's place; freed on drop.
pub struct Admission {
    admissions: Arc<Admissions>,
    subject: Subject,
    address: IpAddr,
}

impl Admissions {
    /// Counts sockets with at most `per_address` per client address (`None`: no limit).
    pub fn new(per_address: Option<usize>) -> Self {
        Self { open: Mutex::default(), per_address }
    }

    /// Takes a place for a socket of `subject` from `address`, within the limits.
    pub fn admit(self: &Arc<Self>, subject: Subject, address: IpAddr) -> Result<Admission, Refusal> {
        let mut open = self.open.lock().expect("admissions lock");
        if open.total >= MAX_SOCKETS_PER_NODE {
            return Err(Refusal::Node);
        }
        if open.by_subject.get(&subject).is_some_and(|&held| held >= MAX_SOCKETS_PER_SUBJECT) {
            return Err(Refusal::Subject);
        }
        if let Some(max) = self.per_address {
            if open.by_address.get(&address).is_some_and(|&held| held >= max) {
                return Err(Refusal::Address);
            }
        }
        *open.by_subject.entry(subject).or_default() += 1;
        *open.by_address.entry(address).or_default() += 1;
        open.total += 1;
        Ok(Admission { admissions: self.clone(), subject, address })
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.admissions.open.lock().expect("admissions lock");
        open.total = open.total.saturating_sub(1);
        release(&mut open.by_subject, &self.subject);
        release(&mut open.by_address, &self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject {
        Subject::new(uuid::Uuid::new_v4())
    }

    #[test]
    fn a_subject_gets_its_share_and_places_come_back_on_drop() {
        let admissions = Arc::new(Admissions::new(None));
        let here: IpAddr = "192.0.2.1".parse().unwrap();
        let ana = subject();
        let held: Vec<Admission> = (0..MAX_SOCKETS_PER_SUBJECT).map(|_| admissions.admit(ana, here).unwrap()).collect();
        assert_eq!(admissions.admit(ana, here).err(), Some(Refusal::Subject));
        assert!(admissions.admit(subject(), here).is_ok(), "others are not held back");
        drop(held);
        assert!(admissions.admit(ana, here).is_ok(), "closing frees the places");
        let open = admissions.open.lock().unwrap();
        assert!(open.by_subject.len() <= 1 && open.by_address.len() <= 1, "no entry is left for closed sockets");
    }

    #[test]
    fn an_address_gets_its_share_whatever_the_subjects() {
        let admissions = Arc::new(Admissions::new(Some(3)));
        let (here, there): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let held: Vec<Admission> = (0..3).map(|_| admissions.admit(subject(), here).unwrap()).collect();
        let guest = subject();
        assert_eq!(admissions.admit(guest, here).err(), Some(Refusal::Address));
        assert!(admissions.admit(guest, there).is_ok(), "other addresses are not held back");
        drop(held);
        assert!(admissions.admit(guest, here).is_ok());
    }
}
