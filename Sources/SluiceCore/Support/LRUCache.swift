/// A thread-safe least-recently-used cache of bounded size: a hit moves the entry to the front, an insert into a full
/// cache evicts the entry used longest ago. Nodes live in one array linked by indices, so a hit or an insert
/// allocates nothing once the cache is full.
public final class LRUCache<Key: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    private struct Node {
        var key: Key
        var value: Value
        var previous: Int
        var next: Int
    }

    public let capacity: Int
    private let lock = Lock()
    private var index: [Key: Int] = [:]
    private var nodes: [Node] = []
    /// Most recently used (-1 when empty).
    private var head = -1
    /// Least recently used (-1 when empty).
    private var tail = -1

    /// A cache holding at most `capacity` entries (at least one).
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        index.reserveCapacity(min(self.capacity, 4096))
    }

    /// The number of entries.
    public var count: Int { lock.withLock { nodes.count } }

    /// The cached value for `key`, marking it most recently used.
    public func get(_ key: Key) -> Value? {
        lock.withLock {
            guard let i = index[key] else { return nil }
            moveToFront(i)
            return nodes[i].value
        }
    }

    /// Stores `value` for `key` as the most recently used entry, evicting the least recently used one when full.
    public func put(_ key: Key, _ value: Value) {
        lock.withLock {
            if let i = index[key] {
                nodes[i].value = value
                moveToFront(i)
                return
            }
            if nodes.count < capacity {
                nodes.append(Node(key: key, value: value, previous: -1, next: head))
                let i = nodes.count - 1
                if head >= 0 { nodes[head].previous = i }
                head = i
                if tail < 0 { tail = i }
                index[key] = i
                return
            }
            // Reuse the least recently used node.
            let i = tail
            index[nodes[i].key] = nil
            nodes[i].key = key
            nodes[i].value = value
            index[key] = i
            moveToFront(i)
        }
    }

    /// The cached value for `key`, or `make()`'s result, cached. `make` runs outside the lock, so two threads
    /// missing the same key at once may both compute it (the results are equal; the last one stays).
    public func value(for key: Key, _ make: () throws -> Value) rethrows -> Value {
        if let hit = get(key) { return hit }
        let made = try make()
        put(key, made)
        return made
    }

    /// The keys from most to least recently used (tests).
    public var keysByRecency: [Key] {
        lock.withLock {
            var out: [Key] = []
            var i = head
            while i >= 0 {
                out.append(nodes[i].key)
                i = nodes[i].next
            }
            return out
        }
    }

    private func moveToFront(_ i: Int) {
        guard i != head else { return }
        let previous = nodes[i].previous
        let next = nodes[i].next
        // Unlink.
        if previous >= 0 { nodes[previous].next = next }
        if next >= 0 { nodes[next].previous = previous } else { tail = previous }
        // Link at the front.
        nodes[i].previous = -1
        nodes[i].next = head
        if head >= 0 { nodes[head].previous = i }
        head = i
    }
}
