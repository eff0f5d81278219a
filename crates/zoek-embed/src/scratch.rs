//! Buffers a thread keeps from one call to the next.
//!
//! A forward pass and each of its matrix products need large temporary buffers; allocated
//! and zeroed afresh every time they cost page faults and `memset`s that the writes after
//! them make useless. [`with_kept`] lends a thread's kept value instead, and gives a fresh
//! one to a call nested inside another on the same thread (rayon's work stealing runs such
//! calls while a thread waits on its own parallel loop).

use std::cell::RefCell;
use std::thread::LocalKey;

/// Calls `f` on this thread's value in `key`, or on a fresh `T::default()` when that value
/// is already lent out; afterwards the kept value is reset to the default unless `keep` says
/// it is small enough to hold on to.
pub(crate) fn with_kept<T: Default, R>(
    key: &'static LocalKey<RefCell<T>>,
    keep: impl FnOnce(&T) -> bool,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut kept) => {
            let out = f(&mut kept);
            if !keep(&kept) {
                *kept = T::default();
            }
            out
        }
        Err(_) => f(&mut T::default()),
    })
}
