//! Two pieces of work at once: the halves of a merge or of a read-back.

/// Runs `a` on a scoped thread and `b` on this one, and returns both results. A panic in `a`
/// is raised again here with its own payload, as if it had happened on this thread.
pub fn both<A: Send, B>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (A, B) {
    std::thread::scope(|scope| {
        let a = scope.spawn(a);
        let b = b();
        let a = a
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (a, b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_results_come_back_and_a_panic_keeps_its_message() {
        let here = std::thread::current().id();
        let (a, b) = both(
            || std::thread::current().id(),
            || std::thread::current().id(),
        );
        assert_ne!(a, here, "the first runs on another thread");
        assert_eq!(b, here, "the second runs on this one");
        let caught = std::panic::catch_unwind(|| both(|| panic!("boom in a"), || 1));
        let payload = caught.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in a"));
    }
}
