// Pre-tokenizers: split text into words before BPE, as llama.cpp does for each
// `tokenizer.ggml.pre` (llama-vocab.cpp). Each regex is implemented as a hand-written scanner
// with the same leftmost-alternative semantics, over Unicode scalars:
//
//   gpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   smollm: first \p{N} (every digit alone), then gpt2 on the rest
//   qwen2:  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*
//           |\s*[\r\n]+|\s+(?!\S)|\s+

/// A pre-tokenization scheme named by `tokenizer.ggml.pre`.
public enum PreTokenizer: Sendable {
    case gpt2
    case digitsThenGPT2
    case qwen2

    /// The scheme for a `tokenizer.ggml.pre` value, or nil when Braid does not implement it.
    public init?(ggmlName: String) {
        switch ggmlName {
        case "gpt2", "mpt", "olmo", "jais": self = .gpt2
        case "smollm", "starcoder", "refact", "codeshell", "command-r": self = .digitsThenGPT2
        case "qwen2", "stablelm2": self = .qwen2
        default: return nil
        }
    }

    /// The words of `text`, in order; concatenated they give back `text`.
    func split(_ text: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        var words: [ArraySlice<Unicode.Scalar>] = []
        switch self {
        case .gpt2:
            Self.scan(text[...], into: &words, next: Self.gpt2Match)
        case .qwen2:
            Self.scan(text[...], into: &words, next: Self.qwen2Match)
        case .digitsThenGPT2:
            var start = 0
            for (i, scalar) in text.enumerated() where CharacterClass.isNumber(scalar) {
                if start < i { Self.scan(text[start..<i], into: &words, next: Self.gpt2Match) }
                words.append(text[i..<i + 1])
                start = i + 1
            }
            if start < text.count { Self.scan(text[start...], into: &words, next: Self.gpt2Match) }
        }
        return words
    }

    /// Repeatedly takes the match at the front of `piece`; `next` returns its end index.
    private static func scan(_ piece: ArraySlice<Unicode.Scalar>, into words: inout [ArraySlice<Unicode.Scalar>],
                             next: (ArraySlice<Unicode.Scalar>, Int) -> Int) {
        var i = piece.startIndex
        while i < piece.endIndex {
            let end = next(piece, i)
            words.append(piece[i..<end])
            i = end
        }
    }

    /// Length of an English contraction at `i` ('s 't 're 've 'm 'll 'd), or 0.
    private static func contraction(_ s: ArraySlice<Unicode.Scalar>, _ i: Int, caseInsensitive: Bool) -> Int {
        guard s[i] == "'", i + 1 < s.endIndex else { return 0 }
        func lower(_ c: Unicode.Scalar) -> Unicode.Scalar {
            caseInsensitive && c.value >= 65 && c.value <= 90 ? Unicode.Scalar(c.value + 32)! : c
        }
        let c1 = lower(s[i + 1])
        if c1 == "s" || c1 == "t" || c1 == "m" || c1 == "d" { return 2 }
        if i + 2 < s.endIndex {
            let c2 = lower(s[i + 2])
            if (c1 == "r" && c2 == "e") || (c1 == "v" && c2 == "e") || (c1 == "l" && c2 == "l") { return 3 }
        }
        return 0
    }

    /// End of a run from `i` of scalars satisfying `test`.
    private static func run(_ s: ArraySlice<Unicode.Scalar>, from i: Int, _ test: (Unicode.Scalar) -> Bool) -> Int {
        var k = i
        while k < s.endIndex && test(s[k]) { k += 1 }
        return k
    }

    /// `\s+(?!\S)|\s+` from `i` (a whitespace scalar): a run of whitespace, leaving its last
    /// scalar to the next word when a non-space follows.
    private static func whitespace(_ s: ArraySlice<Unicode.Scalar>, _ i: Int) -> Int {
        let end = run(s, from: i, CharacterClass.isWhitespace)
        return end < s.endIndex && end - i > 1 ? end - 1 : end
    }

    private static func gpt2Match(_ s: ArraySlice<Unicode.Scalar>, _ i: Int) -> Int {
        let n = contraction(s, i, caseInsensitive: false)
        if n > 0 { return i + n }
        let j = s[i] == " " && i + 1 < s.endIndex ? i + 1 : i
        let c = s[j]
        if CharacterClass.isLetter(c) { return run(s, from: j, CharacterClass.isLetter) }
        if CharacterClass.isNumber(c) { return run(s, from: j, CharacterClass.isNumber) }
        if CharacterClass.isOther(c) { return run(s, from: j, CharacterClass.isOther) }
        return whitespace(s, i)
    }

    private static func qwen2Match(_ s: ArraySlice<Unicode.Scalar>, _ i: Int) -> Int {
        let n = contraction(s, i, caseInsensitive: true)
        if n > 0 { return i + n }
        let c = s[i]
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if CharacterClass.isLetter(c) { return run(s, from: i, CharacterClass.isLetter) }
        let isNewline = c == "\r" || c == "\n"
        if !isNewline && !CharacterClass.isNumber(c) && i + 1 < s.endIndex && CharacterClass.isLetter(s[i + 1]) {
            return run(s, from: i + 1, CharacterClass.isLetter)
        }
        // \p{N}
        if CharacterClass.isNumber(c) { return i + 1 }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        let j = c == " " && i + 1 < s.endIndex && CharacterClass.isOther(s[i + 1]) ? i + 1 : i
        if CharacterClass.isOther(s[j]) {
            let end = run(s, from: j, CharacterClass.isOther)
            return run(s, from: end) { $0 == "\r" || $0 == "\n" }
        }
        // \s*[\r\n]+ : up to and including the last newline of the whitespace run
        let end = run(s, from: i, CharacterClass.isWhitespace)
        if let lastNewline = s[i..<end].lastIndex(where: { $0 == "\r" || $0 == "\n" }) {
            return lastNewline + 1
        }
        return whitespace(s, i)
    }
}

/// The Unicode classes the pre-tokenizer regexes use.
enum CharacterClass {
    /// \p{L}: letters of any script.
    static func isLetter(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII { return (c.value | 0x20) >= 97 && (c.value | 0x20) <= 122 }
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// \p{N}: digits and other numerals.
    static func isNumber(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII { return c.value >= 48 && c.value <= 57 }
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// \s: Unicode White_Space.
    static func isWhitespace(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII { return c == " " || (c.value >= 9 && c.value <= 13) }
        return c.properties.isWhitespace
    }

    /// [^\s\p{L}\p{N}]: punctuation, symbols, marks, controls.
    static func isOther(_ c: Unicode.Scalar) -> Bool {
        !isWhitespace(c) && !isLetter(c) && !isNumber(c)
    }
}
