internal import Glibc

/// A value behind a pthread mutex: the lock every Loupe type that shares state between threads
/// uses.
///
/// `Synchronization.Mutex` is not used because on Linux it is built on futexes, which
/// ThreadSanitizer does not see as a lock. Every access it guarded was reported as a race, and a
/// real race would have hidden among those reports. A pthread mutex is intercepted, so a TSan run
/// (`Scripts/sanitize.sh thread`) reports only what is not guarded. The uncontended cost is the
/// same (an atomic exchange).
package final class Locked<Value: ~Copyable>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    package init(_ value: consuming Value) {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        self.value = value
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value while holding the lock.
    package func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
