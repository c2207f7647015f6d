// Tokenization of 40 varied strings must equal llama.cpp's, id for id, for both real tokenizers
// (Tests/Fixtures/llamacpp/tokenize-*.json: ASCII, accents, CJK, emoji, code, whitespace runs,
// digits, contractions, special tokens).
import Braid
import Foundation
import Testing

enum TokenizerFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/llamacpp")

    static func tokenizer(_ name: String) throws -> Tokenizer {
        try Tokenizer(gguf: GGUFFile(path: ModelCatalog.resolve(name)))
    }

    static func cases(_ name: String) throws -> [(text: String, ids: [Int32])] {
        let data = try Data(contentsOf: directory.appendingPathComponent("tokenize-\(name).json"))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let tokens = object?["tokens"] as? [[String: Any]] ?? []
        return tokens.map { ($0["text"] as? String ?? "", ($0["ids"] as? [Int] ?? []).map(Int32.init)) }
    }
}

@Suite("Tokenizer against llama.cpp")
struct TokenizerGoldenTests {
    @Test("token ids equal llama.cpp's", arguments: ["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"])
    func goldenIDs(model: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(model)
        let cases = try TokenizerFixtures.cases(model)
        #expect(cases.count >= 25)
        for (text, ids) in cases {
            #expect(tokenizer.encode(text) == ids, "\(model): \(text.debugDescription)")
        }
    }

    @Test("decoding gives the text back", arguments: ["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"])
    func roundTrip(model: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(model)
        for (text, _) in try TokenizerFixtures.cases(model) {
            #expect(tokenizer.decode(tokenizer.encode(text), renderSpecial: true) == text, "\(model): \(text.debugDescription)")
        }
    }

    @Test("streaming never splits a UTF-8 character", arguments: ["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"])
    func streaming(model: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(model)
        let text = "Emoji 👨‍👩‍👧 and 日本語 and café 🍕"
        let ids = tokenizer.encode(text)
        // At least one token must carry a partial character, or the test proves nothing.
        #expect(ids.contains { String(validating: tokenizer.bytes(of: $0), as: UTF8.self) == nil })
        var stream = StreamingDetokenizer(tokenizer: tokenizer)
        var pieces: [String] = []
        for id in ids { pieces.append(stream.append(id)) }
        pieces.append(stream.finish())
        #expect(!pieces.joined().contains("\u{FFFD}"))
        #expect(pieces.joined() == text)
    }

    @Test("end-of-generation tokens come from the metadata")
    func endOfGeneration() throws {
        let smol = try TokenizerFixtures.tokenizer("smollm2-135m-instruct")
        #expect(smol.isEndOfGeneration(try #require(smol.id(ofToken: "<|im_end|>"))))
        #expect(smol.addsBOS == false)
        let qwen = try TokenizerFixtures.tokenizer("qwen2.5-coder-0.5b-instruct")
        #expect(qwen.isEndOfGeneration(151645))
        #expect(qwen.isEndOfGeneration(151643))
        #expect(!qwen.isEndOfGeneration(198))
    }
}

@Suite("Streaming detokenizer")
struct StreamingDetokenizerTests {
    @Test("complete prefix holds back only an unfinished character")
    func completePrefix() {
        let euro: [UInt8] = [0xE2, 0x82, 0xAC]  // €
        #expect(StreamingDetokenizer.completePrefixLength([0x41] + euro) == 4)
        #expect(StreamingDetokenizer.completePrefixLength([0x41] + euro.prefix(2)) == 1)
        #expect(StreamingDetokenizer.completePrefixLength([0x41, 0xF0, 0x9F]) == 1)
        #expect(StreamingDetokenizer.completePrefixLength([0x41, 0x80]) == 2)  // stray continuation byte passes
        #expect(StreamingDetokenizer.completePrefixLength([]) == 0)
    }
}
