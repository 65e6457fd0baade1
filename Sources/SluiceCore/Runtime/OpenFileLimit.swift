#if canImport(Glibc)
import Glibc
#endif

/// The process's limit on open descriptors (`RLIMIT_NOFILE`), raised at start-up as servers do.
///
/// Called once by the command line's main thread before any pipeline starts. The soft limit (often 1,024) is what
/// `accept`/`open` run into; the hard limit is what the administrator allows, so the soft one is raised to it.
public enum OpenFileLimit {
    /// The soft and hard limits, nil when they cannot be read.
    public static func current() -> (soft: UInt64, hard: UInt64)? {
        var r = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &r) == 0 else { return nil }
        return (UInt64(r.rlim_cur), UInt64(r.rlim_max))
    }

    /// Raises the soft limit to the hard limit. Returns the limits before and after, or nil when they cannot be
    /// read; when raising fails the soft limit is unchanged (and `after` says so).
    @discardableResult
    public static func raiseToHardLimit() -> (before: UInt64, after: UInt64, hard: UInt64)? {
        var r = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &r) == 0 else { return nil }
        let before = UInt64(r.rlim_cur)
        if r.rlim_cur < r.rlim_max {
            var raised = r
            raised.rlim_cur = r.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised)
        }
        guard let now = current() else { return nil }
        return (before, now.soft, now.hard)
    }
}
