/// An insertion-ordered string-keyed map, the hash type of event fields.
///
/// Events usually hold a handful of keys, where a linear scan over inline small strings beats hashing; a hash index
/// is built only once an object grows past `indexThreshold` keys. Insertion order is kept so that output is stable.
public struct Object: Sendable, Equatable, Sequence {
    /// One key and its value, stored side by side so that an object is a single allocation.
    @usableFromInline struct Entry: Sendable {
        @usableFromInline var key: String
        @usableFromInline var value: Value

        @inlinable init(_ key: String, _ value: Value) {
            self.key = key
            self.value = value
        }
    }

    @usableFromInline var entries: ContiguousArray<Entry>
    @usableFromInline var index: [String: Int]?

    @usableFromInline static let indexThreshold = 16
    /// The room given to an object created on the way to a nested field (`[http][request][method]`), so that its
    /// first few keys do not regrow it.
    public static let nestedCapacity = 4

    /// An empty object.
    @inlinable public init() {
        entries = []
        index = nil
    }

    /// An empty object with room for `capacity` keys.
    @inlinable public init(minimumCapacity capacity: Int) {
        entries = []
        entries.reserveCapacity(capacity)
        index = nil
    }

    @inlinable public var count: Int { entries.count }
    @inlinable public var isEmpty: Bool { entries.isEmpty }
    /// The keys in insertion order.
    @inlinable public var orderedKeys: [String] { entries.map(\.key) }

    @inlinable func position(of key: String) -> Int? {
        if let index { return index[key] }
        // Comparing lengths first skips the out-of-line string comparison for most keys that differ.
        let length = key.utf8.count
        for i in entries.indices where entries[i].key.utf8.count == length && entries[i].key == key { return i }
        return nil
    }

    /// The value at `key`; assigning `nil` removes the key.
    @inlinable public subscript(key: String) -> Value? {
        get {
            guard let i = position(of: key) else { return nil }
            return entries[i].value
        }
        set {
            if let newValue {
                if let i = position(of: key) {
                    entries[i].value = newValue
                } else {
                    append(key, newValue)
                }
            } else {
                removeValue(forKey: key)
            }
        }
    }

    /// Adds `key`, which the caller knows is absent (a new event's first fields), without looking for it first.
    @inlinable public mutating func appendNew(_ key: String, _ value: Value) {
        append(key, value)
    }

    /// Sets `key` to `value` unless the key is there already (one look-up); returns whether it was added.
    @discardableResult
    @inlinable public mutating func addIfAbsent(_ key: String, _ value: @autoclosure () -> Value) -> Bool {
        if position(of: key) != nil { return false }
        append(key, value())
        return true
    }

    @inlinable mutating func append(_ key: String, _ value: Value) {
        entries.append(Entry(key, value))
        if index != nil {
            index![key] = entries.count - 1
        } else if entries.count > Object.indexThreshold {
            rebuildIndex()
        }
    }

    @usableFromInline mutating func rebuildIndex() {
        var idx = [String: Int](minimumCapacity: entries.count)
        for (i, e) in entries.enumerated() { idx[e.key] = i }
        index = idx
    }

    /// Removes `key`, returning its value.
    @discardableResult
    @inlinable public mutating func removeValue(forKey key: String) -> Value? {
        guard let i = position(of: key) else { return nil }
        let old = entries.remove(at: i).value
        if index != nil {
            if entries.count > Object.indexThreshold { rebuildIndex() } else { index = nil }
        }
        return old
    }

    /// Mutates the value at `key` in place (no copy of nested containers), creating it with `default` when absent.
    @inlinable public mutating func withValue<R>(
        forKey key: String, default defaultValue: @autoclosure () -> Value, _ body: (inout Value) throws -> R
    ) rethrows -> R {
        let i: Int
        if let p = position(of: key) {
            i = p
        } else {
            append(key, defaultValue())
            i = entries.count - 1
        }
        return try body(&entries[i].value)
    }

    /// Mutates an existing value at `key` in place; returns nil when absent.
    @inlinable public mutating func withExistingValue<R>(forKey key: String, _ body: (inout Value) throws -> R) rethrows
        -> R?
    {
        guard let i = position(of: key) else { return nil }
        return try body(&entries[i].value)
    }

    /// Iterates `(key, value)` pairs in insertion order.
    public struct Iterator: IteratorProtocol {
        @usableFromInline var base: ContiguousArray<Entry>.Iterator

        @inlinable init(base: ContiguousArray<Entry>.Iterator) { self.base = base }

        @inlinable public mutating func next() -> (String, Value)? {
            guard let e = base.next() else { return nil }
            return (e.key, e.value)
        }
    }

    @inlinable public func makeIterator() -> Iterator { Iterator(base: entries.makeIterator()) }

    public static func == (lhs: Object, rhs: Object) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for (k, v) in lhs {
            guard let o = rhs[k], o == v else { return false }
        }
        return true
    }
}
