// The tokenizer on the tiny byte-level vocabulary: merges, long words, vocabulary quirks.
import Braid
import BraidTestSupport
import Testing

@Suite("Tokenizer edge cases")
struct TokenizerEdgeTests {
    func tiny(tokens: [String] = TinyModel.vocabulary.tokens, kinds: [Int] = TinyModel.vocabulary.kinds,
              merges: [String] = TinyModel.vocabulary.merges) throws -> Tokenizer {
        try Tokenizer(tokens: tokens, kinds: kinds, merges: merges, preTokenizer: .gpt2, bosToken: nil, eosToken: 259, addsBOS: false)
    }

    @Test("long words and whitespace runs tokenize and round-trip")
    func longRuns() throws {
        let tokenizer = try tiny()
        for text in [String(repeating: " ", count: 20_000), String(repeating: "hell", count: 5_000), String(repeating: "\n", count: 3_000)] {
            #expect(tokenizer.decode(tokenizer.encode(text)) == text)
        }
        // "hell" repeated: every "he" and "ll" merges, nothing else does.
        #expect(tokenizer.encode("hellhell") == [256, 257, 256, 257])
    }

    @Test("special tokens are cut out only when asked, and render only when asked")
    func specials() throws {
        let tokenizer = try tiny()
        #expect(tokenizer.encode("<|im_end|>hi") == [259, 104, 105])
        #expect(tokenizer.encode("<|im_end|>", parseSpecial: false).count == 10)
        #expect(tokenizer.decode([259]) == "" && tokenizer.decode([259], renderSpecial: true) == "<|im_end|>")
        #expect(tokenizer.isEndOfGeneration(259) && tokenizer.isEndOfGeneration(260))
    }

    @Test("a repeated token string maps to its last id, as in llama.cpp")
    func duplicates() throws {
        var tokens = TinyModel.vocabulary.tokens, kinds = TinyModel.vocabulary.kinds
        tokens.append("he")
        kinds.append(1)
        let tokenizer = try tiny(tokens: tokens, kinds: kinds)
        #expect(tokenizer.id(ofToken: "he") == Int32(tokens.count - 1))
    }

    @Test("vocabularies Braid cannot use are refused with the reason")
    func invalid() throws {
        #expect(throws: TokenizerError.self) { try tiny(tokens: [], kinds: []) }
        #expect(throws: TokenizerError.self) { try tiny(kinds: [1]) }
        var model = TinyModel()
        model.extraMetadata = [("tokenizer.ggml.pre", .string("deepseek-llm"))]
        #expect(throws: TokenizerError.unsupportedPreTokenizer("deepseek-llm")) { try Tokenizer(gguf: GGUFFile(path: model.write())) }
        model.extraMetadata = [("tokenizer.ggml.model", .string("llama"))]
        #expect(throws: TokenizerError.unsupportedModel("llama")) { try Tokenizer(gguf: GGUFFile(path: model.write())) }
    }
}
