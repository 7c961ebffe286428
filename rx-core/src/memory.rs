//! Giving freed memory back to the operating system between the phases of an analysis.
//!
//! Allocators such as mimalloc keep freed pages for reuse, and pages freed by threads that have
//! ended (a pass's reader and decoder threads) can stay resident long after. An analysis that
//! holds a large structure for the rest of its run (a tree model's binned data) calls
//! [`release_free_memory`] when a read pass ends, so those pages do not add to its peak. The
//! library does not know the allocator: a program registers what to call with
//! [`set_release_hook`] (the `rx` binary registers mimalloc's `mi_collect`); without a hook the
//! call does nothing.

use std::sync::OnceLock;

static HOOK: OnceLock<fn()> = OnceLock::new();

/// Registers the function [`release_free_memory`] calls. The first registration wins; returns
/// whether this one was taken.
pub fn set_release_hook(hook: fn()) -> bool {
    HOOK.set(hook).is_ok()
}

/// Asks the allocator to return the memory it keeps free to the operating system (nothing
/// without a hook).
pub fn release_free_memory() {
    if let Some(hook) = HOOK.get() {
        hook();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    fn count() {
        CALLS.fetch_add(1, Ordering::SeqCst);
    }

    fn other() {}

    #[test]
    fn the_first_hook_is_called() {
        assert!(set_release_hook(count));
        assert!(!set_release_hook(other));
        release_free_memory();
        release_free_memory();
        assert_eq!(CALLS.load(Ordering::SeqCst), 2);
    }
}
