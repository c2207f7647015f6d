// Byte-level BPE tokenizer (`tokenizer.ggml.model = gpt2`) built from GGUF metadata, following
// llama.cpp's llama-vocab.cpp: special tokens are cut out of the text first (longest first), the
// rest is pre-tokenized into words, each word's bytes are mapped to characters and merged by rank.
import BraidGGUF

/// A token id, as the vocabulary numbers it.
public typealias TokenID = Int32

/// Why a tokenizer could not be built from a model's metadata.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    case unsupportedModel(String)
    case unsupportedPreTokenizer(String)
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
    /// Id of the single-byte token of each byte value (-1 when absent).
    private let byteTokens: [TokenID]
    /// Special tokens matched as whole strings in text, longest first.
    private let specialTokens: [(text: [Unicode.Scalar], id: TokenID, kind: TokenKind)]
    /// The bytes each token decodes to (control tokens: their text).
    private let tokenBytes: [[UInt8]]

    /// Builds the tokenizer a GGUF file describes.
    public init(gguf: GGUFFile) throws {
        let model = try gguf.string("tokenizer.ggml.model")
        guard model == "gpt2" else { throw TokenizerError.unsupportedModel(model) }
        let pre = (try? gguf.string("tokenizer.ggml.pre")) ?? "gpt2"
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
                      addsBOS: (try? gguf.bool("tokenizer.ggml.add_bos_token")) ?? false)
    }

    /// Builds a tokenizer from its parts (the GGUF arrays, decoded).
    public init(tokens: [String], kinds: [Int], merges mergeStrings: [String], preTokenizer: PreTokenizer,
                bosToken: TokenID?, eosToken: TokenID?, addsBOS: Bool) throws {
        guard !tokens.isEmpty else { throw TokenizerError.invalidVocabulary("no tokens") }
        guard kinds.count == tokens.count else {
            throw TokenizerError.invalidVocabulary("\(kinds.count) token types for \(tokens.count) tokens")
        }
        guard addsBOS == false || bosToken != nil else { throw TokenizerError.invalidVocabulary("add_bos_token without bos_token_id") }
        self.tokens = tokens
        self.kinds = kinds.map { TokenKind(rawValue: $0) ?? .normal }
        self.preTokenizer = preTokenizer
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.addsBOS = addsBOS

        var idForToken: [String: TokenID] = [:]
        idForToken.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() where idForToken[token] == nil {
            idForToken[token] = TokenID(id)
        }
        self.idForToken = idForToken

        var merges: [UInt64: (rank: Int32, merged: TokenID)] = [:]
        merges.reserveCapacity(mergeStrings.count)
        for (rank, merge) in mergeStrings.enumerated() {
            guard let space = merge.firstIndex(of: " ") else { continue }
            let left = String(merge[..<space]), right = String(merge[merge.index(after: space)...])
            guard let l = idForToken[left], let r = idForToken[right], let m = idForToken[left + right] else { continue }
            let key = UInt64(UInt32(bitPattern: l)) << 32 | UInt64(UInt32(bitPattern: r))
            if merges[key] == nil { merges[key] = (Int32(rank), m) }
        }
        self.merges = merges
        self.byteTokens = ByteLevel.characterForByte.map { idForToken[String($0)] ?? -1 }

        var specials: [(text: [Unicode.Scalar], id: TokenID, kind: TokenKind)] = []
        var endOfGeneration = Set<TokenID>()
        if let eosToken { endOfGeneration.insert(eosToken) }
        var tokenBytes: [[UInt8]] = []
        tokenBytes.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() {
            let kind = self.kinds[id]
            switch kind {
            case .control, .userDefined, .unknown:
                if !token.isEmpty { specials.append((Array(token.unicodeScalars), TokenID(id), kind)) }
                tokenBytes.append(Array(token.utf8))
                if kind == .control && Self.endOfGenerationNames.contains(token) { endOfGeneration.insert(TokenID(id)) }
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

    /// Control tokens that llama.cpp also treats as end of generation.
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

    /// BPE over one pre-tokenized word: start from one symbol per byte, repeatedly merge the
    /// adjacent pair of lowest rank (leftmost on ties).
    private func encodeWord(_ word: ArraySlice<Unicode.Scalar>, into output: inout [TokenID]) {
        var symbols: [TokenID] = []
        for scalar in word {
            for byte in String(scalar).utf8 { symbols.append(byteTokens[Int(byte)]) }
        }
        if symbols.contains(-1) {
            // A vocabulary without byte tokens for some byte: nothing sensible to merge.
            output.append(contentsOf: symbols.filter { $0 >= 0 })
            return
        }
        while symbols.count > 1 {
            var bestRank = Int32.max, bestIndex = -1, bestMerged: TokenID = 0
            for i in 0..<symbols.count - 1 {
                let key = UInt64(UInt32(bitPattern: symbols[i])) << 32 | UInt64(UInt32(bitPattern: symbols[i + 1]))
                if let merge = merges[key], merge.rank < bestRank {
                    bestRank = merge.rank
                    bestIndex = i
                    bestMerged = merge.merged
                }
            }
            if bestIndex < 0 { break }
            symbols[bestIndex] = bestMerged
            symbols.remove(at: bestIndex + 1)
        }
        output.append(contentsOf: symbols)
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
