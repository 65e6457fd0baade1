/// An insertion-ordered string-keyed map, the hash type of event fields.
///
/// Events usually hold a handful of keys, where a linear scan over inline small strings beats hashing; a hash index
/// is built only once an object grows past `indexThreshold` keys. Insertion order is kept so that output is stable.
public struct Object: Sendable, Equatable, Sequence {
    @usableFromInline var keys: [String]
    @usableFromInline var values: [Value]
    @usableFromInline var index: [String: Int]?

    @usableFromInline static let indexThreshold = 16

    /// An empty object.
    @inlinable public init() {
        keys = []
        values = []
        index = nil
    }

    /// An empty object with room for `capacity` keys.
    @inlinable public init(minimumCapacity capacity: Int) {
        keys = []
        values = []
        keys.reserveCapacity(capacity)
        values.reserveCapacity(capacity)
        index = nil
    }

    @inlinable public var count: Int { keys.count }
    @inlinable public var isEmpty: Bool { keys.isEmpty }
    /// The keys in insertion order.
    @inlinable public var orderedKeys: [String] { keys }

    @inlinable func position(of key: String) -> Int? {
        if let index { return index[key] }
        for i in keys.indices where keys[i] == key { return i }
        return nil
    }

    /// The value at `key`; assigning `nil` removes the key.
    @inlinable public subscript(key: String) -> Value? {
        get {
            guard let i = position(of: key) else { return nil }
            return values[i]
        }
        set {
            if let newValue {
                if let i = position(of: key) {
                    values[i] = newValue
                } else {
                    append(key, newValue)
                }
            } else {
                removeValue(forKey: key)
            }
        }
    }

    @inlinable mutating func append(_ key: String, _ value: Value) {
        keys.append(key)
        values.append(value)
        if index != nil {
            index![key] = keys.count - 1
        } else if keys.count > Object.indexThreshold {
            rebuildIndex()
        }
    }

    @usableFromInline mutating func rebuildIndex() {
        var idx = [String: Int](minimumCapacity: keys.count)
        for (i, k) in keys.enumerated() { idx[k] = i }
        index = idx
    }

    /// Removes `key`, returning its value.
    @discardableResult
    @inlinable public mutating func removeValue(forKey key: String) -> Value? {
        guard let i = position(of: key) else { return nil }
        keys.remove(at: i)
        let old = values.remove(at: i)
        if index != nil {
            if keys.count > Object.indexThreshold { rebuildIndex() } else { index = nil }
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
            i = keys.count - 1
        }
        return try body(&values[i])
    }

    /// Mutates an existing value at `key` in place; returns nil when absent.
    @inlinable public mutating func withExistingValue<R>(forKey key: String, _ body: (inout Value) throws -> R) rethrows
        -> R?
    {
        guard let i = position(of: key) else { return nil }
        return try body(&values[i])
    }

    public func makeIterator() -> Zip2Sequence<[String], [Value]>.Iterator {
        zip(keys, values).makeIterator()
    }

    public static func == (lhs: Object, rhs: Object) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for (k, v) in lhs {
            guard let o = rhs[k], o == v else { return false }
        }
        return true
    }
}
