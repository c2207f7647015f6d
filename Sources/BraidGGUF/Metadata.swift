// Typed access to GGUF metadata, with errors that name the key.

extension GGUFFile {
    /// The value at `key`, or `GGUFError.missingKey`.
    public func value(_ key: String) throws -> GGUFValue {
        guard let value = metadata[key] else { throw GGUFError.missingKey(key) }
        return value
    }

    /// An integer metadata value.
    public func integer(_ key: String) throws -> Int {
        guard let v = try value(key).integer else { throw GGUFError.wrongValueType(key: key, expected: "an integer") }
        return v
    }

    /// An integer metadata value, or `fallback` when the key is absent (a wrong type still throws).
    public func integer(_ key: String, default fallback: Int) throws -> Int {
        metadata[key] == nil ? fallback : try integer(key)
    }

    /// A floating-point metadata value, or `fallback` when the key is absent.
    public func float(_ key: String, default fallback: Float) throws -> Float {
        metadata[key] == nil ? fallback : try float(key)
    }

    /// A floating-point metadata value.
    public func float(_ key: String) throws -> Float {
        guard let v = try value(key).double else { throw GGUFError.wrongValueType(key: key, expected: "a number") }
        return Float(v)
    }

    /// A string metadata value.
    public func string(_ key: String) throws -> String {
        guard let v = try value(key).string else { throw GGUFError.wrongValueType(key: key, expected: "a string") }
        return v
    }

    /// A Boolean metadata value.
    public func bool(_ key: String) throws -> Bool {
        guard let v = try value(key).bool else { throw GGUFError.wrongValueType(key: key, expected: "a boolean") }
        return v
    }

    /// An array of strings.
    public func strings(_ key: String) throws -> [String] {
        guard let array = try value(key).array else { throw GGUFError.wrongValueType(key: key, expected: "an array of strings") }
        return try array.map {
            guard let s = $0.string else { throw GGUFError.wrongValueType(key: key, expected: "an array of strings") }
            return s
        }
    }

    /// An array of integers.
    public func integers(_ key: String) throws -> [Int] {
        guard let array = try value(key).array else { throw GGUFError.wrongValueType(key: key, expected: "an array of integers") }
        return try array.map {
            guard let i = $0.integer else { throw GGUFError.wrongValueType(key: key, expected: "an array of integers") }
            return i
        }
    }

    /// The tensor called `name`, or `GGUFError.missingTensor`.
    public func requireTensor(_ name: String) throws -> GGUFTensor {
        guard let tensor = tensor(named: name) else { throw GGUFError.missingTensor(name) }
        return tensor
    }
}
