// Byte-level BPE tokenizer (`tokenizer.ggml.model = gpt2`) built from GGUF metadata, following
// llama.cpp's llama-vocab.cpp: special tokens are cut out of the text first (longest first), the
// rest is pre-tokenized into words, each word's bytes are mapped to characters and merged by rank.
import BraidGGUF
import HeapModule

/// A token id, as the vocabulary numbers it.
public typealias TokenID = Int32

/// Why a tokenizer could not be built from a model's metadata.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    /// `tokenizer.ggml.model` is not byte-level BPE.
    case unsupportedModel(String)
    /// `tokenizer.ggml.pre` names a pre-tokenizer Braid does not implement.
    case unsupportedPreTokenizer(String)
    /// The vocabulary arrays are inconsistent.
    case invalidVocabulary(String)

    public var description: String {
        switch self {
        case let .unsupportedModel(m): "unsupported tokenizer model '\(m)' (Braid supports byte-level BPE, 'gpt2')"
        case let .unsupportedPreTokenizer(p): "unsupported pre-tokenizer '\(p)' (tokenizer.ggml.pre); supported: gpt2, smollm, qwen2"
        case let .invalidVocabulary(why): "invalid vocabulary: \(why)"
        }
    }
}

/// The kind of each vocabulary entry (`tokenizer.ggml.token_type`, llama.cpp's `llama_token_type`).
public enum TokenKind: Int, Sendable {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

/// Converts text to token ids and back.
///
/// ```swift
/// let tokenizer = try Tokenizer(gguf: file)
/// let ids = tokenizer.encode("Hello world")          // [19556, 905] for SmolLM2
/// let text = tokenizer.decode(ids)                   // "Hello world"
/// ```
public struct Tokenizer: Sendable {
    /// Token strings in the vocabulary's byte-level encoding.
    public let tokens: [String]
    /// Kind of each token.
    public let kinds: [TokenKind]
    /// The beginning-of-sequence token, if any.
    public let bosToken: TokenID?
    /// The end-of-sequence token, if any.
    public let eosToken: TokenID?
    /// Whether `encode(_:addSpecial:)` prepends `bosToken` (`tokenizer.ggml.add_bos_token`).
    public let addsBOS: Bool
    /// Tokens that end generation: EOS and the control tokens that close a turn or a document.
    public let endOfGenerationTokens: Set<TokenID>

    private let preTokenizer: PreTokenizer
    private let idForToken: [String: TokenID]
    /// (left id << 32 | right id) → (rank, merged id).
    private let merges: [UInt64: (rank: Int32, merged: TokenID)]
    /// Id of the single-byte token of each byte value (-1 when the vocabulary has none).
    private let byteTokens: [TokenID]
    /// Special tokens matched as whole strings in text, longest first.
    private let specialTokens: [(text: [Unicode.Scalar], id: TokenID, kind: TokenKind)]
    /// The bytes each token decodes to (control tokens: their text).
    private let tokenBytes: [[UInt8]]

    /// Builds the tokenizer a GGUF file describes.
    public init(gguf: GGUFFile) throws {
        let model = try gguf.string("tokenizer.ggml.model")
        guard model == "gpt2" else { throw TokenizerError.unsupportedModel(model) }
        // Without `tokenizer.ggml.pre` llama.cpp falls back to a default regex set Braid does not
        // implement; refusing is better than tokenizing differently.
        let pre = try gguf.string("tokenizer.ggml.pre")
        guard let preTokenizer = PreTokenizer(ggmlName: pre) else { throw TokenizerError.unsupportedPreTokenizer(pre) }
        let tokens = try gguf.strings("tokenizer.ggml.tokens")
        let kinds = gguf.metadata["tokenizer.ggml.token_type"] == nil
            ? [Int](repeating: 1, count: tokens.count) : try gguf.integers("tokenizer.ggml.token_type")
        let merges = gguf.metadata["tokenizer.ggml.merges"] == nil ? [] : try gguf.strings("tokenizer.ggml.merges")
        func optionalID(_ key: String) throws -> TokenID? {
            guard gguf.metadata[key] != nil else { return nil }
            let id = try gguf.integer(key)
            guard id >= 0 && id < tokens.count else { throw TokenizerError.invalidVocabulary("\(key) = \(id) is outside the vocabulary") }
            return TokenID(id)
        }
        try self.init(tokens: tokens, kinds: kinds, merges: merges, preTokenizer: preTokenizer,
                      bosToken: optionalID("tokenizer.ggml.bos_token_id"),
                      eosToken: optionalID("tokenizer.ggml.eos_token_id"),
                      extraEndOfGeneration: [optionalID("tokenizer.ggml.eot_token_id"), optionalID("tokenizer.ggml.eom_token_id")].compactMap { $0 },
                      addsBOS: gguf.metadata["tokenizer.ggml.add_bos_token"] == nil ? false : gguf.bool("tokenizer.ggml.add_bos_token"))
    }

    /// Builds a tokenizer from its parts (the GGUF arrays, decoded).
    public init(tokens: [String], kinds: [Int], merges mergeStrings: [String], preTokenizer: PreTokenizer,
                bosToken: TokenID?, eosToken: TokenID?, extraEndOfGeneration: [TokenID] = [], addsBOS: Bool) throws {
        guard !tokens.isEmpty else { throw TokenizerError.invalidVocabulary("no tokens") }
        guard kinds.count == tokens.count else {
            throw TokenizerError.invalidVocabulary("\(kinds.count) token types for \(tokens.count) tokens")
        }
        guard addsBOS == false || bosToken != nil else { throw TokenizerError.invalidVocabulary("add_bos_token without bos_token_id") }
        self.tokens = tokens
        self.kinds = kinds.map { TokenKind(rawValue: $0) ?? .undefined }
        self.preTokenizer = preTokenizer
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.addsBOS = addsBOS

        var idForToken: [String: TokenID] = [:]
        idForToken.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() {
            idForToken[token] = TokenID(id)  // a repeated string maps to its last id, as in llama.cpp
        }
        self.idForToken = idForToken

        var merges: [UInt64: (rank: Int32, merged: TokenID)] = [:]
        merges.reserveCapacity(mergeStrings.count)
        for (rank, merge) in mergeStrings.enumerated() {
            // Split at the first space after the first character (llama.cpp: `find(' ', 1)`).
            guard let first = merge.indices.first,
                  let space = merge[merge.index(after: first)...].firstIndex(of: " ") else { continue }
            let left = String(merge[..<space]), right = String(merge[merge.index(after: space)...])
            guard let l = idForToken[left], let r = idForToken[right], let m = idForToken[left + right] else { continue }
            let key = Self.pairKey(l, r)
            if merges[key] == nil { merges[key] = (Int32(rank), m) }
        }
        self.merges = merges
        // Some vocabularies lack a few byte tokens (SmolLM2 has none for 0x04); like llama.cpp,
        // such bytes are dropped from the output.
        self.byteTokens = ByteLevel.characterForByte.map { idForToken[String($0)] ?? -1 }

        var specials: [(text: [Unicode.Scalar], id: TokenID, kind: TokenKind)] = []
        var endOfGeneration = Set(extraEndOfGeneration)
        if let eosToken { endOfGeneration.insert(eosToken) }
        var tokenBytes: [[UInt8]] = []
        tokenBytes.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() {
            let kind = self.kinds[id]
            if Self.endOfGenerationNames.contains(token) { endOfGeneration.insert(TokenID(id)) }
            switch kind {
            case .control, .userDefined, .unknown:
                if !token.isEmpty { specials.append((Array(token.unicodeScalars), TokenID(id), kind)) }
                tokenBytes.append(Array(token.utf8))
            case .byte:
                tokenBytes.append(Self.byteTokenValue(token).map { [$0] } ?? Array(token.utf8))
            default:
                tokenBytes.append(ByteLevel.bytes(of: token))
            }
        }
        specials.sort { $0.text.count > $1.text.count }
        self.specialTokens = specials
        self.tokenBytes = tokenBytes
        self.endOfGenerationTokens = endOfGeneration
    }

    /// Tokens that llama.cpp also treats as end of generation, whatever their kind.
    private static let endOfGenerationNames: Set<String> = ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"]

    /// `<0xAB>` → 0xAB.
    private static func byteTokenValue(_ token: String) -> UInt8? {
        guard token.hasPrefix("<0x"), token.hasSuffix(">"), token.count == 6 else { return nil }
        return UInt8(token.dropFirst(3).dropLast(), radix: 16)
    }

    /// Number of tokens in the vocabulary.
    public var vocabularySize: Int { tokens.count }

    /// Token ids of `text`. With `parseSpecial`, control tokens written in the text (`<|im_start|>`)
    /// become single tokens, as llama.cpp's `special = true`; user-defined tokens always do.
    /// BOS is prepended when the model asks for it and `addSpecial` is true.
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = true) -> [TokenID] {
        var output: [TokenID] = []
        if addSpecial && addsBOS, let bosToken { output.append(bosToken) }
        for fragment in partition(Array(text.unicodeScalars), parseSpecial: parseSpecial) {
            switch fragment {
            case let .special(id):
                output.append(id)
            case let .text(scalars):
                for word in preTokenizer.split(scalars) { encodeWord(word, into: &output) }
            }
        }
        return output
    }

    private enum Fragment {
        case text([Unicode.Scalar])
        case special(TokenID)
    }

    /// Cuts special tokens out of the text, longest first (llama.cpp `tokenizer_st_partition`).
    private func partition(_ text: [Unicode.Scalar], parseSpecial: Bool) -> [Fragment] {
        var fragments: [Fragment] = [.text(text)]
        for special in specialTokens {
            if !parseSpecial && special.kind != .userDefined { continue }
            var next: [Fragment] = []
            for fragment in fragments {
                guard case let .text(scalars) = fragment, scalars.count >= special.text.count else {
                    next.append(fragment)
                    continue
                }
                var start = 0, i = 0
                let pattern = special.text
                while i + pattern.count <= scalars.count {
                    if scalars[i] == pattern[0] && scalars[i..<i + pattern.count].elementsEqual(pattern) {
                        if start < i { next.append(.text(Array(scalars[start..<i]))) }
                        next.append(.special(special.id))
                        i += pattern.count
                        start = i
                    } else {
                        i += 1
                    }
                }
                if start < scalars.count { next.append(.text(Array(scalars[start...]))) }
            }
            fragments = next
        }
        return fragments
    }

    /// (left id, right id) packed as one dictionary key.
    private static func pairKey(_ left: TokenID, _ right: TokenID) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// A mergeable pair of adjacent symbols, ordered as llama.cpp orders them: lowest rank first,
    /// leftmost on ties.
    private struct Bigram: Comparable {
        let rank: Int32
        let left: Int
        let leftID: TokenID, rightID: TokenID
        static func < (a: Bigram, b: Bigram) -> Bool { (a.rank, a.left) < (b.rank, b.left) }
        static func == (a: Bigram, b: Bigram) -> Bool { (a.rank, a.left) == (b.rank, b.left) }
    }

    /// BPE over one pre-tokenized word: start from one symbol per byte and repeatedly merge the
    /// adjacent pair of lowest rank, with the pairs in a heap and the symbols in a linked list, so
    /// a long word costs O(n log n).
    private func encodeWord(_ word: ArraySlice<Unicode.Scalar>, into output: inout [TokenID]) {
        var symbols: [TokenID] = []
        for scalar in word {
            for byte in String(scalar).utf8 { symbols.append(byteTokens[Int(byte)]) }
        }
        let n = symbols.count
        var next = Array(1...max(n, 1)), previous = Array(-1..<max(n - 1, 0))
        var alive = [Bool](repeating: true, count: n)
        var queue = Heap<Bigram>()
        func consider(_ left: Int) {
            guard left >= 0, left < n, next[left] < n else { return }
            let right = next[left]
            if let merge = merges[Self.pairKey(symbols[left], symbols[right])] {
                queue.insert(Bigram(rank: merge.rank, left: left, leftID: symbols[left], rightID: symbols[right]))
            }
        }
        for i in 0..<max(n - 1, 0) { consider(i) }
        while let bigram = queue.popMin() {
            let left = bigram.left, right = next[left]
            // Skip pairs that an earlier merge changed.
            guard alive[left], right < n, symbols[left] == bigram.leftID, symbols[right] == bigram.rightID,
                  let merge = merges[Self.pairKey(bigram.leftID, bigram.rightID)] else { continue }
            symbols[left] = merge.merged
            alive[right] = false
            next[left] = next[right]
            if next[right] < n { previous[next[right]] = left }
            consider(previous[left])
            consider(left)
        }
        for i in 0..<n where alive[i] && symbols[i] >= 0 { output.append(symbols[i]) }
    }

    /// The bytes token `id` stands for. Control tokens give their text only when `renderSpecial`.
    public func bytes(of id: TokenID, renderSpecial: Bool = false) -> [UInt8] {
        guard id >= 0 && Int(id) < tokenBytes.count else { return [] }
        if kinds[Int(id)] == .control && !renderSpecial { return [] }
        return tokenBytes[Int(id)]
    }

    /// The text of a whole sequence of tokens (invalid UTF-8 becomes U+FFFD).
    public func decode(_ ids: [TokenID], renderSpecial: Bool = false) -> String {
        String(decoding: ids.flatMap { bytes(of: $0, renderSpecial: renderSpecial) }, as: UTF8.self)
    }

    /// Whether `id` ends generation (EOS, `<|im_end|>`, `<|endoftext|>`, …).
    public func isEndOfGeneration(_ id: TokenID) -> Bool {
        endOfGenerationTokens.contains(id)
    }

    /// The id of a token given by its exact vocabulary string, if present.
    public func id(ofToken token: String) -> TokenID? {
        idForToken[token]
    }
}
