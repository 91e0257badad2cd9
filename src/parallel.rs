//! Pieces of work at once: two (the write beside the analysis, the halves of a merge or a
//! read-back), or one per item (the sources).

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

/// Runs `f` on every item, each on a scoped thread but the first (on this one), and returns
/// the results in the items' order. A panic is raised again here with its own payload.
pub fn each<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let Some((first, rest)) = items.split_first() else {
        return Vec::new();
    };
    std::thread::scope(|scope| {
        let f = &f;
        let others: Vec<_> = rest.iter().map(|t| scope.spawn(move || f(t))).collect();
        let mut out = vec![f(first)];
        for h in others {
            out.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        out
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

    #[test]
    fn each_keeps_the_items_order_and_runs_all_but_the_first_elsewhere() {
        let here = std::thread::current().id();
        let got = each(&[1, 2, 3], |n| {
            (n * 10, std::thread::current().id() == here)
        });
        assert_eq!(got, vec![(10, true), (20, false), (30, false)]);
        assert!(each(&[] as &[u8], |_| ()).is_empty());
        let caught = std::panic::catch_unwind(|| each(&[1, 2], |n| assert_ne!(*n, 2, "two")));
        assert!(
            caught.is_err(),
            "a panic on another thread reaches the caller"
        );
    }
}
