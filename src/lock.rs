//! Taking the standard library's locks, the one way this crate does it.
//!
//! A lock is poisoned when a thread panicked while holding it. No code path that input can
//! reach panics while holding a lock (there is no `unwrap` on such a path), so a poisoned lock
//! means a bug, and the data behind it is still a valid value: every structure guarded here is
//! changed in place only by assignments that leave it whole, never left half-built across a
//! call that can panic. So a poisoned lock is taken anyway, here, rather than turning one bug
//! into a failure of every later call, or — worse — into a silently skipped update where each
//! call site chose its own way out.

use std::sync::{Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// Locks `mutex`, poisoned or not.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Takes `lock` shared, poisoned or not.
pub fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poison| poison.into_inner())
}

/// Takes `lock` exclusively, poisoned or not.
pub fn write<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poison| poison.into_inner())
}

/// Waits on `condvar` while `condition` holds, at most `timeout`, poisoned or not.
pub fn wait_timeout_while<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
    condition: impl FnMut(&mut T) -> bool,
) -> MutexGuard<'a, T> {
    match condvar.wait_timeout_while(guard, timeout, condition) {
        Ok((guard, _)) => guard,
        Err(poison) => poison.into_inner().0,
    }
}

/// Waits on `condvar` while `condition` holds, poisoned or not.
pub fn wait_while<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    condition: impl FnMut(&mut T) -> bool,
) -> MutexGuard<'a, T> {
    condvar
        .wait_while(guard, condition)
        .unwrap_or_else(|poison| poison.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_poisoned_lock_is_still_taken() {
        let shared = Arc::new((Mutex::new(1), RwLock::new(2)));
        let poisoner = Arc::clone(&shared);
        let panicked = std::thread::spawn(move || {
            let _mutex = poisoner.0.lock();
            let _rwlock = poisoner.1.write();
            panic!("poison both");
        })
        .join();
        assert!(panicked.is_err());
        assert!(shared.0.is_poisoned() && shared.1.is_poisoned());
        *lock(&shared.0) += 1;
        *write(&shared.1) += 1;
        assert_eq!((*lock(&shared.0), *read(&shared.1)), (2, 3));
    }
}
