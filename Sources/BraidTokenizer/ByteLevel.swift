// GPT-2's byte-level mapping (Radford et al. 2019, `bytes_to_unicode`): every byte becomes a
// printable Unicode character, so BPE vocabularies hold byte sequences as ordinary strings.

/// GPT-2's byte ↔ character tables.
public enum ByteLevel {
    /// The character standing for each byte value.
    public static let characterForByte: [Unicode.Scalar] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var mapped = printable
        var next = 0
        for byte in 0..<256 where !printable.contains(byte) {
            printable.append(byte)
            mapped.append(256 + next)
            next += 1
        }
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        for (byte, scalar) in zip(printable, mapped) {
            table[byte] = Unicode.Scalar(UInt32(scalar))!  // 0…511: always a valid scalar
        }
        return table
    }()

    /// The byte each mapped character stands for.
    static let byteForCharacter: [Unicode.Scalar: UInt8] = {
        var table: [Unicode.Scalar: UInt8] = [:]
        for (byte, scalar) in characterForByte.enumerated() { table[scalar] = UInt8(byte) }
        return table
    }()

    /// Decodes a vocabulary string back to bytes; characters outside the mapping keep their UTF-8.
    static func bytes(of token: String) -> [UInt8] {
        var out: [UInt8] = []
        for scalar in token.unicodeScalars {
            if let byte = byteForCharacter[scalar] {
                out.append(byte)
            } else {
                out.append(contentsOf: String(scalar).utf8)
            }
        }
        return out
    }
}
