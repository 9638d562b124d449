//! Results one thread posts and others wait for: a localbuild step starts as
//! soon as the results it needs are posted, not when a whole stage ends.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

/// One value per key, posted once (later posts are ignored). A waiter gets
/// `None` when the producer failed or gave up ([`Ready::close`]), so no
/// thread waits forever on work that will not happen.
pub(crate) struct Ready<T> {
    values: Mutex<HashMap<String, Option<T>>>,
    posted: Condvar,
    keys: Vec<String>,
}

impl<T: Clone> Ready<T> {
    pub(crate) fn new(keys: impl IntoIterator<Item = String>) -> Ready<T> {
        Ready {
            values: Mutex::new(HashMap::new()),
            posted: Condvar::new(),
            keys: keys.into_iter().collect(),
        }
    }

    pub(crate) fn post(&self, key: &str, value: Option<T>) {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values.entry(key.to_owned()).or_insert(value);
        self.posted.notify_all();
    }

    /// Blocks until `key` is posted. A key this board was not made with is
    /// never posted: `None` at once.
    pub(crate) fn wait(&self, key: &str) -> Option<T> {
        if !self.keys.iter().any(|k| k == key) {
            return None;
        }
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(value) = values.get(key) {
                return value.clone();
            }
            values = self.posted.wait(values).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Posts `None` for every key not posted yet.
    pub(crate) fn close(&self) {
        for key in &self.keys {
            self.post(key, None);
        }
    }

    /// Closes the board when dropped: the producer's thread holds it, so an
    /// early return or a panic there still releases the waiters.
    pub(crate) fn closer(&self) -> Closer<'_, T> {
        Closer(self)
    }
}

pub(crate) struct Closer<'a, T: Clone>(&'a Ready<T>);

impl<T: Clone> Drop for Closer<'_, T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_gets_what_another_thread_posts() {
        let ready = Ready::new(["a".to_owned(), "b".to_owned()]);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| ready.wait("b"));
            ready.post("b", Some(2));
            ready.post("b", Some(3));
            assert_eq!(waiter.join().unwrap(), Some(2), "the first post counts");
        });
        assert_eq!(ready.wait("c"), None, "an unknown key does not block");
    }

    #[test]
    fn a_producer_that_stops_early_releases_every_waiter() {
        let ready: Ready<u32> = Ready::new(["a".to_owned(), "b".to_owned()]);
        std::thread::scope(|s| {
            let waiters = [s.spawn(|| ready.wait("a")), s.spawn(|| ready.wait("b"))];
            let producer = s.spawn(|| {
                let _closer = ready.closer();
                ready.post("a", Some(1));
                panic!("the producer fails before posting b");
            });
            assert!(producer.join().is_err());
            let got: Vec<_> = waiters.map(|w| w.join().unwrap()).into();
            assert_eq!(got, [Some(1), None]);
        });
    }
}
