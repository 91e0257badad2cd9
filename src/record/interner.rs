//! Shared strings: the report types, hosts and check names and values that repeat on nearly
//! every record of a day, held once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::Checks;

/// Shares one allocation among equal strings (report types, hosts, check names and values
/// repeat on nearly every record of a day), and among equal sets of extra checks.
#[derive(Debug, Default)]
pub struct Interner {
    strings: HashSet<Arc<str>, foldhash::fast::FixedState>,
    /// `checks` JSON text → its checks: the same few texts come back on every record.
    pub(super) check_texts: HashMap<String, Checks, foldhash::fast::FixedState>,
    pub(super) none: Checks,
}

/// Distinct `checks` texts remembered; a day with more parses the rest each time.
pub(super) const CHECK_TEXTS: usize = 4096;

impl Interner {
    pub fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.strings.insert(a.clone());
        a
    }
}
