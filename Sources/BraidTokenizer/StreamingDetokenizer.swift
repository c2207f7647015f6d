// Turns generated tokens into text as they arrive, never printing half a UTF-8 character:
// a multi-byte character split across tokens is held back until its last byte comes.

/// Accumulates token bytes and releases only complete UTF-8 text.
///
/// ```swift
/// var stream = StreamingDetokenizer(tokenizer: tokenizer)
/// for id in generated { print(stream.append(id), terminator: "") }
/// print(stream.finish())
/// ```
public struct StreamingDetokenizer: Sendable {
    private let tokenizer: Tokenizer
    private var pending: [UInt8] = []

    public init(tokenizer: Tokenizer) {
        self.tokenizer = tokenizer
    }

    /// Adds a token; returns the text that is now complete (possibly empty).
    public mutating func append(_ id: TokenID) -> String {
        pending.append(contentsOf: tokenizer.bytes(of: id))
        let complete = Self.completePrefixLength(pending)
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Releases whatever is held back (an unfinished character becomes U+FFFD).
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the prefix of `bytes` that does not end inside a multi-byte character.
    /// Only a trailing sequence that could still be completed is held back; invalid bytes pass.
    public static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        // The lead byte of an unfinished character is among the last 4 bytes.
        var i = n - 1
        while i >= 0 && i >= n - 4 {
            let b = bytes[i]
            if b & 0xC0 != 0x80 {  // a lead byte or ASCII
                let needed = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
                return n - i < needed ? i : n
            }
            i -= 1
        }
        return n
    }
}
