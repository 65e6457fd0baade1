/// Data loaded from a file once per process and shared by every plugin that names the file (several filters, or
/// the old and new pipeline during a reload), such as a GeoIP database or a pattern set.
///
/// Entries are keyed by path and remembered with the file's size and modification time: a file replaced on disk is
/// loaded afresh, and its older data is dropped once no plugin holds it any more.
public final class SharedFileResource<Resource: Sendable>: @unchecked Sendable {
    private let lock = Lock()
    private var loaded: [String: (stamp: String, resource: Resource)] = [:]

    public init() {}

    /// The resource of `path`, loaded with `load` unless the same version of the file was loaded before.
    public func resource<E: Error>(at path: String, load: (String) throws(E) -> Resource) throws(E) -> Resource {
        let stamp = FileSystem.modificationStamp(path) ?? ""
        if let entry = lock.withLock({ loaded[path] }), entry.stamp == stamp { return entry.resource }
        let resource = try load(path)
        lock.withLock { loaded[path] = (stamp, resource) }
        return resource
    }
}
