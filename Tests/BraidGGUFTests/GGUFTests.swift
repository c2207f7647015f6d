// The GGUF reader on files built in-process: every metadata type, both versions, alignment,
// mapped tensor data, and a clear error for each kind of broken file.
import BraidGGUF
import BraidKernels
import BraidTestSupport
import Foundation
import Testing

func open(_ bytes: [UInt8]) throws -> GGUFFile {
    try GGUFFile(path: TinyModel.writeTemporary(bytes, suffix: ".gguf"))
}

@Suite("GGUF reader")
struct GGUFTests {
    @Test("every metadata type, nested arrays included, reads back")
    func metadataTypes() throws {
        var writer = GGUFWriter()
        let values: [(String, GGUFValue)] = [
            ("u8", .uint8(200)), ("i8", .int8(-5)), ("u16", .uint16(60000)), ("i16", .int16(-300)),
            ("u32", .uint32(4_000_000_000)), ("i32", .int32(-70000)), ("u64", .uint64(1 << 40)), ("i64", .int64(-(1 << 40))),
            ("f32", .float32(1.5)), ("f64", .float64(-2.25)), ("bool", .bool(true)), ("string", .string("héllo ✓")),
            ("array", .array([.int32(1), .int32(2)])),
            ("nested", .array([.array([.string("a"), .string("b")]), .array([.string("c")])])),
            ("empty", .array([])),
        ]
        for (key, value) in values { writer.set(key, value) }
        let file = try open(writer.serialized())
        #expect(file.version == 3)
        for (key, value) in values { #expect(file.metadata[key] == value, "\(key)") }
        #expect(try file.integer("u32") == 4_000_000_000)
        #expect(try file.string("string") == "héllo ✓")
        #expect(throws: GGUFError.missingKey("absent")) { try file.integer("absent") }
        #expect(throws: GGUFError.wrongValueType(key: "string", expected: "an integer")) { try file.integer("string") }
    }

    @Test("tensors are mapped in place at aligned offsets, for every type")
    func tensors() throws {
        var writer = GGUFWriter()
        writer.alignment = 64
        writer.set("general.alignment", .uint32(64))
        writer.addTensor("a", dimensions: [3], values: [1, 2, 3])
        writer.addTensor("b", dimensions: [32, 2], type: .q8_0, bytes: TinyModel.quantize((0..<64).map { Float($0) / 64 }, as: .q8_0))
        for type in TensorType.allCases {
            writer.addTensor("t.\(type)", dimensions: [type.blockSize * 2], type: type, bytes: [UInt8](repeating: 0, count: 2 * type.blockBytes))
        }
        let file = try open(writer.serialized())
        #expect(file.alignment == 64)
        let a = try file.requireTensor("a")
        #expect(a.type == .f32 && a.dimensions == [3] && a.elementCount == 3)
        #expect(a.data.loadUnaligned(fromByteOffset: 8, as: Float.self) == 3)
        let b = try file.requireTensor("b")
        #expect(b.byteCount == 68 && b.dimensions == [32, 2])
        for tensor in file.tensors { #expect(Int(bitPattern: tensor.data) % 64 == 0, "\(tensor.name) aligned") }
        for type in TensorType.allCases { #expect(file.tensor(named: "t.\(type)")?.type == type) }
        #expect(throws: GGUFError.missingTensor("zzz")) { try file.requireTensor("zzz") }
    }

    @Test("version 2 files read like version 3")
    func version2() throws {
        var writer = GGUFWriter()
        writer.set("k", .string("v"))
        var bytes = writer.serialized()
        bytes[4] = 2
        let file = try open(bytes)
        #expect(file.version == 2 && file.metadata["k"] == .string("v"))
    }

    @Test("a tiny model file round-trips")
    func tinyModel() throws {
        let file = try GGUFFile(path: TinyModel().write())
        #expect(try file.string("general.architecture") == "llama")
        #expect(file.tensors.count == 2 + 9 * 2)  // token_embd, output_norm, 9 per block
    }
}

@Suite("GGUF bad input")
struct GGUFBadInputTests {
    let good = TinyModel().ggufBytes()

    @Test func notGGUF() throws {
        let path = try TinyModel.writeTemporary(Array("hello, this is text".utf8), suffix: ".txt")
        #expect(throws: GGUFError.notGGUF(path: path)) { try GGUFFile(path: path) }
        let empty = try TinyModel.writeTemporary([], suffix: ".gguf")
        #expect(throws: GGUFError.notGGUF(path: empty)) { try GGUFFile(path: empty) }
    }

    @Test func missingFile() {
        #expect(throws: GGUFError.self) { try GGUFFile(path: "/nonexistent/model.gguf") }
    }

    @Test func unsupportedVersion() throws {
        var bytes = good
        bytes[4] = 9
        #expect(throws: GGUFError.unsupportedVersion(9)) { try open(bytes) }
    }

    @Test("truncated anywhere in the header, metadata or tensor table")
    func truncated() throws {
        // Cut points inside the header, the metadata and the tensor table: each must be `truncated`
        // (or, once the tensor table is whole, `tensorDataPastEnd`), never a crash.
        for length in [6, 20, 100, 1000, 5000, good.count / 2, good.count - 1] {
            do {
                _ = try open(Array(good.prefix(length)))
                Issue.record("a file cut to \(length) bytes was accepted")
            } catch let error as GGUFError {
                switch error {
                case .truncated, .tensorDataPastEnd: break
                default: Issue.record("cut to \(length): unexpected \(error)")
                }
            }
        }
    }

    @Test func tensorDataPastEnd() throws {
        var writer = GGUFWriter()
        writer.addTensor("w", dimensions: [4], values: [1, 2, 3, 4])
        let bytes = writer.serialized()  // 16 data bytes, then 16 bytes of padding to the alignment of 32
        #expect(throws: GGUFError.tensorDataPastEnd(tensor: "w", end: bytes.count - 16, fileSize: bytes.count - 20)) {
            try open(Array(bytes.dropLast(20)))
        }
    }

    @Test func unknownTensorType() throws {
        var writer = GGUFWriter()
        writer.addTensor("w", dimensions: [4], values: [1, 2, 3, 4])
        var bytes = writer.serialized()
        // The type id sits 12 bytes before the end of the tensor table entry (u32 type, u64 offset).
        let entryEnd = 24 + 8 + 1 + 4 + 8 + 4 + 8
        bytes[entryEnd - 12] = 19  // IQ2_XXS: a real ggml type Braid does not read
        #expect(throws: GGUFError.unknownTensorType(tensor: "w", type: 19)) { try open(bytes) }
    }

    @Test func unknownValueType() throws {
        var writer = GGUFWriter()
        writer.set("k", .uint8(1))
        var bytes = writer.serialized()
        bytes[24 + 8 + 1] = 99  // the value type right after the key "k"
        #expect(throws: GGUFError.unknownValueType(key: "k", type: 99)) { try open(bytes) }
    }

    @Test("hostile sizes, nesting, duplicates and alignment are refused, not allocated")
    func hostileFiles() throws {
        var huge = GGUFWriter()
        huge.addTensor("w", dimensions: [1 << 39, 1 << 23], type: .f32, bytes: [0, 0, 0, 0])
        #expect(throws: GGUFError.invalidTensor(tensor: "w", reason: "dimensions [549755813888, 8388608] hold more data than the file")) {
            try open(huge.serialized())
        }
        var deep = GGUFValue.int8(1)
        for _ in 0..<20 { deep = .array([deep]) }
        var nested = GGUFWriter()
        nested.set("deep", deep)
        #expect(throws: GGUFError.invalidValue(key: "deep", reason: "arrays nested deeper than 8")) { try open(nested.serialized()) }
        var twice = GGUFWriter()
        twice.set("k", .bool(true))
        twice.set("j", .bool(false))
        var twiceBytes = twice.serialized()
        let second = 24 + (8 + 1 + 4 + 1) + 8  // after the header and the first entry: key "j"
        twiceBytes[second] = UInt8(ascii: "k")
        #expect(throws: GGUFError.duplicate("metadata key 'k'")) { try open(twiceBytes) }
        var tensors = GGUFWriter()
        tensors.addTensor("w", dimensions: [1], values: [1])
        tensors.addTensor("w", dimensions: [1], values: [2])
        #expect(throws: GGUFError.duplicate("tensor 'w'")) { try open(tensors.serialized()) }
        var aligned = GGUFWriter()
        aligned.set("general.alignment", .uint32(2))
        #expect(throws: GGUFError.wrongValueType(key: "general.alignment", expected: "a power of two ≥ 4")) { try open(aligned.serialized()) }
    }

    @Test func hugeCountsAreTruncationNotAllocation() throws {
        var bytes = good
        for i in 8..<16 { bytes[i] = 0xFF }  // tensor count 2⁶⁴ − 1
        #expect(throws: GGUFError.truncated("the header")) { try open(bytes) }
    }
}
