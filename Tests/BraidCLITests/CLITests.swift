// The `braid` executable end to end on tiny models: output formats, and for every kind of bad
// input a one-line error naming the problem with exit code 1 (a crash would be a signal).
import Braid
import BraidTestSupport
import Foundation
import Testing

struct CommandResult {
    let status: Int32
    let reason: Process.TerminationReason
    let stdout: String
    let stderr: String
}

enum CLI {
    /// The built `braid` binary: beside the test bundle, or in .build/release.
    static let executable: URL = {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("braid")
        if FileManager.default.isExecutableFile(atPath: besideTests.path) { return besideTests }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/release/braid")
    }()

    static func run(_ arguments: [String]) throws -> CommandResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus, reason: process.terminationReason,
                             stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Runs braid expecting a clean failure whose one-line message contains `fragment`.
    static func expectFailure(_ arguments: [String], mentioning fragment: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try run(arguments)
        #expect(result.reason == .exit, "braid crashed on \(arguments)", sourceLocation: sourceLocation)
        #expect(result.status == 1, "exit status \(result.status) for \(arguments)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.hasPrefix("braid: error: "), "stderr: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(fragment), "stderr: \(result.stderr) lacks \(fragment)", sourceLocation: sourceLocation)
    }
}

@Suite("braid command line")
struct CLITests {
    let model: String

    init() throws {
        model = try TinyModel().write()
    }

    @Test func tokenizePrintsJSON() throws {
        let result = try CLI.run(["tokenize", "-m", model, "hello"])
        #expect(result.status == 0)
        let ids = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [Int]
        #expect(ids == [256, 257, 111])  // h e l l o → "he", "ll", "o" (the tiny vocabulary's two merges)
    }

    @Test func generateJSON() throws {
        let result = try CLI.run(["generate", "-m", model, "-p", "hello", "-n", "5", "--temperature", "0", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect((object["tokens"] as? [Int])?.count ?? 0 <= 5)
        #expect(object["prompt_tokens"] as? [Int] == [256, 257, 111])
        #expect(["stop", "length"].contains(object["finish_reason"] as? String ?? ""))
        let timings = try #require(object["timings"] as? [String: Double])
        for key in ["load_ms", "prompt_ms", "decode_ms", "prompt_tokens_per_s", "decode_tokens_per_s"] {
            #expect(timings[key] != nil, "timings.\(key)")
        }
    }

    @Test func generateBranchesJSON() throws {
        let result = try CLI.run(["generate", "-m", model, "-p", "hello", "-n", "6", "--branches", "3", "--seed", "5",
                                  "--top-logprobs", "2", "--stop", "zz", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let branches = try #require(object["branches"] as? [[String: Any]])
        #expect(branches.count == 3)
        for branch in branches {
            let tokens = try #require(branch["tokens"] as? [Int])
            let logprobs = try #require(branch["logprobs"] as? [[String: Any]])
            #expect(tokens.count <= 6 && logprobs.count == tokens.count)
            #expect(logprobs.map { $0["token"] as? Int } == tokens)
            #expect(logprobs.allSatisfy { ($0["top_logprobs"] as? [[String: Any]])?.count == 2 && ($0["logprob"] as? Double ?? 1) <= 0 })
            #expect(["stop", "length", "kv_full"].contains(branch["finish_reason"] as? String ?? ""))
            #expect(branch["text"] is String && branch["mean_logprob"] is Double)
        }
        #expect(object["tokens"] as? [Int] == branches[0]["tokens"] as? [Int])
        let kv = try #require(object["kv_cache"] as? [String: Int])
        #expect(kv["peak_used_blocks"] ?? 0 >= 1 && kv["peak_bytes"] ?? 0 > 0)
    }

    @Test func generateBranchesText() throws {
        let result = try CLI.run(["generate", "-m", model, "-p", "hello", "-n", "4", "--branches", "2", "--seed", "1"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("── branch 1/2") && result.stdout.contains("── branch 2/2"))
        #expect(result.stderr.contains("KV cache:"))
    }

    @Test("generate: bad branch options", arguments: [
        (["--branches", "0"], "--branches must be ≥ 1"), (["--kv-budget", "0"], "--kv-budget must be > 0"),
        (["--top-logprobs", "-1"], "top logprobs must be ≥ 0"), (["--kv-budget", "99999999999999"], "exceeds this machine's"),
        (["--kv-budget", "9223372036854775807"], "exceeds this machine's"),
        (["--branches", "9223372036854775807", "-n", "100"], "larger than this machine's memory"),
    ])
    func badBranches(arguments: [String], message: String) throws {
        try CLI.expectFailure(["generate", "-m", model, "-p", "x"] + arguments, mentioning: message)
    }

    @Test func generateAggregateJSON() throws {
        let result = try CLI.run(["generate", "-m", model, "-p", "hello", "-n", "6", "--branches", "4", "--seed", "1",
                                  "--aggregate", "deepconf", "--extract", "regex:^(.)", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let aggregate = try #require(object["aggregate"] as? [String: Any])
        #expect(aggregate["operator"] as? String == "deepconf")
        #expect(aggregate["branches_sampled"] as? Int == 4)
        let votes = try #require(aggregate["votes"] as? [[String: Any]])
        #expect(!votes.isEmpty && votes.allSatisfy { ($0["weight"] as? Double ?? 0) > 0 })
        let branches = try #require(object["branches"] as? [[String: Any]])
        #expect(branches.map { $0["stream"] as? Int } == [0, 1, 2, 3])
        #expect(branches.allSatisfy { $0["score"] is Double })
        #expect(aggregate["generated_tokens"] as? Int == branches.reduce(0) { $0 + (($1["tokens"] as? [Int])?.count ?? 0) })
    }

    @Test func generateAggregateText() throws {
        let result = try CLI.run(["generate", "-m", model, "-p", "hello", "-n", "6", "--branches", "3", "--seed", "1",
                                  "--aggregate", "vote", "--extract", "regex:^(.)"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("── branch 3 ·") && result.stdout.contains("votes: ") && result.stdout.contains("\nanswer: "))
    }

    @Test("generate: bad aggregation options", arguments: [
        (["--aggregate", "poll"], "unknown operator 'poll'"), (["--aggregate", "vote", "--extract", "runes"], "unknown extractor 'runes'"),
        (["--aggregate", "vote", "--extract", "regex:(x"], "not a valid regular expression"),
        (["--aggregate", "deepconf:sideways"], "unknown operator"), (["--aggregate", "usc", "--branches", "12"], "usc compares 1 to 9"),
    ])
    func badAggregation(arguments: [String], message: String) throws {
        try CLI.expectFailure(["generate", "-m", model, "-p", "x", "-n", "2"] + arguments, mentioning: message)
    }

    @Test("generate --speculative: plain greedy's tokens and a speculation report", arguments: ["ngram", "jacobi:3", "lookahead:2,2,1", "auto"])
    func generateSpeculative(method: String) throws {
        func object(_ extra: [String]) throws -> [String: Any] {
            let result = try CLI.run(["generate", "-m", model, "-p", "hello hello hello", "-n", "12", "--temperature", "0", "--json"] + extra)
            #expect(result.status == 0, "\(result.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        }
        let plain = try object([]), speculative = try object(["--speculative", method])
        #expect(speculative["tokens"] as? [Int] == plain["tokens"] as? [Int])
        let report = try #require(speculative["speculation"] as? [String: Any])
        #expect(report["method"] as? String == String(method.prefix { $0 != ":" }))
        for key in ["drafted", "accepted", "target_forwards"] { #expect(report[key] is Int, "\(key)") }
        for key in ["mean_accepted_length", "draft_ms", "verify_ms"] { #expect(report[key] is Double, "\(key)") }
    }

    @Test("generate: bad speculative options", arguments: [
        (["--speculative", "ngram:0"], "k must be ≥ 1"), (["--speculative", "jacobi:1"], "n must be ≥ 2"),
        (["--speculative", "lookahead:0,2,2"], "W must be ≥ 1"), (["--speculative", "medusa"], "unknown speculative method"),
        (["--speculative", "draft:no-such-model"], "no model file or manifest name"), (["--speculative", "ngram", "--branches", "2"], "one chain"),
        (["--speculative", "ngram", "--draft-weights", "q8_0"], "--draft-weights must be stored, q4_0 or q4_1"),
        (["--draft-weights", "fast"], "--draft-weights must be stored, q4_0 or q4_1"),
        (["--speculative", "ngram", "--draft-vocabulary", "0"], "--draft-vocabulary must be a number of tokens ≥ 1 or full"),
        (["--draft-vocabulary", "most"], "--draft-vocabulary must be a number of tokens ≥ 1 or full"),
    ])
    func badSpeculation(arguments: [String], message: String) throws {
        try CLI.expectFailure(["generate", "-m", model, "-p", "x", "-n", "2"] + arguments, mentioning: message)
    }

    @Test func evaluateSummary() throws {
        let dataset = try TinyModel.writeTemporary(Array("""
            {"question": "one?", "answer": "#### 1"}
            {"question": "two?", "answer": "2"}

            """.utf8), suffix: ".jsonl")
        let records = FileManager.default.temporaryDirectory.appendingPathComponent("braid-records-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: records) }
        let arguments = ["evaluate", "-m", model, "--dataset", dataset, "--branches", "4", "-n", "4", "--records", records,
                         "--methods", "greedy,vote,deepconf:online,adaptive", "--check-live", "1", "--instruction", "", "--json"]
        let result = try CLI.run(arguments)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["questions"] as? Int == 2)
        #expect((object["methods"] as? [[String: Any]])?.map { $0["method"] as? String } == ["greedy", "vote", "deepconf:online", "adaptive"])
        #expect(object["live_checks"] as? Int == 1 && object["live_checks_matching"] as? Int == 1)
        // A second run resumes from the records: nothing is left to do, the summary is the same.
        let again = try CLI.run(arguments)
        #expect(again.status == 0 && !again.stderr.contains("question 1/2"))
        #expect(again.stdout == result.stdout)
        // A method added to a run that had begun counts only the questions it was run on.
        var added = arguments
        added[try #require(added.firstIndex(of: "--methods")) + 1] = "greedy,vote,deepconf:online:low"
        let extended = try CLI.run(added)
        let rows = try #require((try JSONSerialization.jsonObject(with: Data(extended.stdout.utf8)) as? [String: Any])?["methods"] as? [[String: Any]])
        #expect(rows.map { $0["questions"] as? Int } == [2, 2, 0] && rows[2]["accuracy"] as? Double == 0, "\(rows)")
        // Records made with other settings, or for other questions, are refused rather than mixed in.
        var longer = arguments
        longer[try #require(longer.firstIndex(of: "-n")) + 1] = "5"
        try CLI.expectFailure(longer, mentioning: "was recorded with max_tokens 4, this run has 5")
        let other = try TinyModel.writeTemporary(Array("{\"question\": \"three?\", \"answer\": \"3\"}\n".utf8), suffix: ".jsonl")
        var elsewhere = arguments
        elsewhere[try #require(elsewhere.firstIndex(of: "--dataset")) + 1] = other
        try CLI.expectFailure(elsewhere, mentioning: "holds question 1 with answer '1', the dataset's is '3'")
        let reworded = try TinyModel.writeTemporary(Array("""
            {"question": "uno?", "answer": "1"}
            {"question": "two?", "answer": "2"}

            """.utf8), suffix: ".jsonl")
        elsewhere[try #require(elsewhere.firstIndex(of: "--dataset")) + 1] = reworded
        try CLI.expectFailure(elsewhere, mentioning: "holds another question 1 than the dataset")
        // Records from before settings and question hashes were kept are taken as they are.
        let old = FileManager.default.temporaryDirectory.appendingPathComponent("braid-records-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: old) }
        try Data(Array(#"{"index": 0, "gold": "1", "methods": {"vote": {"answer": "1", "correct": true, "generated_tokens": 7}}}"#.utf8) + [10])
            .write(to: URL(fileURLWithPath: old))
        var legacy = longer
        legacy[try #require(legacy.firstIndex(of: "--records")) + 1] = old
        let resumed = try CLI.run(legacy)
        #expect(resumed.status == 0 && !resumed.stderr.contains("question 1/2") && resumed.stderr.contains("question 2/2"), "\(resumed.stderr)")
        try CLI.expectFailure(["evaluate", "-m", model, "--dataset", "/nonexistent.jsonl"], mentioning: "cannot read the dataset")
        try CLI.expectFailure(["evaluate", "-m", model, "--dataset", dataset, "--methods", " , "], mentioning: "--methods names no method")
        try CLI.expectFailure(["evaluate", "-m", model, "--dataset", dataset, "--check-live", "-1"], mentioning: "--check-live must be ≥ 0")
        try CLI.expectFailure(["evaluate", "-m", model, "--dataset", dataset, "--methods", "greedy,poll"], mentioning: "unknown operator 'poll'")
        let bad = try TinyModel.writeTemporary(Array("{\"question\": \"q\"}\n".utf8), suffix: ".jsonl")
        try CLI.expectFailure(["evaluate", "-m", model, "--dataset", bad], mentioning: "line 1: expected")
    }

    @Test func evaluateRecordsBranchDetails() throws {
        let dataset = try TinyModel.writeTemporary(Array("{\"question\": \"one?\", \"answer\": \"1\"}\n".utf8), suffix: ".jsonl")
        let records = FileManager.default.temporaryDirectory.appendingPathComponent("braid-records-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: records) }
        let result = try CLI.run(["evaluate", "-m", model, "--dataset", dataset, "--branches", "3", "-n", "5", "--records", records,
                                  "--methods", "vote", "--instruction", "", "--branch-details"])
        #expect(result.status == 0, "\(result.stderr)")
        let line = try #require(try String(contentsOfFile: records, encoding: .utf8).split(separator: "\n").first)
        let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let branches = try #require(record["branches"] as? [[String: Any]])
        // One entry a branch, in stream order, with a confidence for every token it generated.
        #expect(branches.map { $0["stream"] as? Int } == [0, 1, 2])
        for branch in branches {
            let tokens = try #require(branch["tokens"] as? Int)
            #expect((1...5).contains(tokens) && (branch["confidences"] as? [Double])?.count == tokens, "\(branch)")
            #expect(branch["finish_reason"] as? String != nil && branch.keys.contains("answer") && branch["text"] is String)
        }
        // The vote's tokens are the branches' tokens.
        let vote = try #require((record["methods"] as? [String: Any])?["vote"] as? [String: Any])
        #expect(vote["generated_tokens"] as? Int == branches.reduce(0) { $0 + ($1["tokens"] as? Int ?? 0) })
    }

    @Test func generateStreamsAndChats() throws {
        let result = try CLI.run(["generate", "-m", model, "-p", "hi", "-n", "4", "--seed", "3", "--chat"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasSuffix("\n"))
    }

    @Test func perplexityJSON() throws {
        let content = String(repeating: "hello world. ", count: 20)
        let text = try TinyModel.writeTemporary(Array(content.utf8), suffix: ".txt")
        let tokenCount = try Tokenizer(gguf: GGUFFile(path: model)).encode(content).count
        let result = try CLI.run(["perplexity", "-m", model, "-f", text, "-c", "16"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect((object["perplexity"] as? Double ?? 0) > 1)
        #expect(object["chunks"] as? Int == tokenCount / 16)
    }

    @Test func benchJSON() throws {
        let result = try CLI.run(["bench", "-m", model, "-p", "20", "-n", "6", "-r", "2", "--threads", "2", "--batch", "1,2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["p"] as? Int == 20)
        #expect(object["n"] as? Int == 6)
        #expect(object["reps"] as? Int == 2)
        #expect(object["threads"] as? Int ?? 0 >= 1)
        #expect(object["model"] as? String != nil)
        for key in ["model_bytes", "kv_cache_bytes", "peak_rss_bytes"] {
            #expect(object[key] as? Int ?? 0 > 0, "\(key)")
        }
        func expectStatistics(_ value: Any?, _ label: String) {
            let statistics = value as? [String: Double] ?? [:]
            for key in ["median", "min", "max"] {
                #expect(statistics[key] ?? 0 > 0, "\(label).\(key)")
            }
            #expect(statistics["min"] ?? 0 <= statistics["median"] ?? 0 && statistics["median"] ?? 0 <= statistics["max"] ?? 0, "\(label)")
        }
        expectStatistics(object["prompt_tokens_per_s"], "prompt_tokens_per_s")
        expectStatistics(object["decode_tokens_per_s"], "decode_tokens_per_s")
        let batched = try #require(object["batched"] as? [[String: Any]])
        #expect(batched.map { $0["batch"] as? Int } == [1, 2])
        for row in batched {
            expectStatistics(row["tokens_per_s"], "tokens_per_s")
            expectStatistics(row["ms_per_step"], "ms_per_step")
            #expect(row["step_cost_vs_1"] as? Double ?? 0 > 0)
        }
    }

    @Test func benchBranchesJSON() throws {
        let result = try CLI.run(["bench", "-m", model, "-p", "40", "-n", "4", "-r", "1", "--branches", "1,3", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let branches = try #require(object["branches"] as? [[String: Any]])
        #expect(branches.map { $0["branches"] as? Int } == [1, 3])
        for row in branches {
            #expect((row["tokens_per_s"] as? [String: Double])?["median"] ?? 0 > 0)
            // 40 prompt positions once, then 4 per branch: partly filled blocks make it more than 1.
            #expect(row["kv_peak_vs_shared_prompt"] as? Double ?? 0 >= 1)
        }
        let prefix = try #require(object["prefix_cache"] as? [String: Any])
        #expect(prefix["repeat_vs_first"] as? Double ?? 0 > 0)
    }

    @Test func benchTable() throws {
        let result = try CLI.run(["bench", "-m", model, "-p", "8", "-n", "2", "-r", "1"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("pp8") && result.stdout.contains("tg2") && result.stdout.contains("peak RSS"))
    }

    // MARK: Bad input

    @Test func notGGUF() throws {
        let path = try TinyModel.writeTemporary(Array("plain text".utf8), suffix: ".txt")
        try CLI.expectFailure(["generate", "-m", path, "-p", "x"], mentioning: "is not a GGUF file")
    }

    @Test func truncatedFile() throws {
        let bytes = TinyModel().ggufBytes()
        let path = try TinyModel.writeTemporary(Array(bytes.prefix(3000)), suffix: ".gguf")
        try CLI.expectFailure(["generate", "-m", path, "-p", "x"], mentioning: "truncated")
    }

    @Test func tensorDataPastEnd() throws {
        let bytes = TinyModel().ggufBytes()
        let path = try TinyModel.writeTemporary(Array(bytes.dropLast(4096)), suffix: ".gguf")
        try CLI.expectFailure(["generate", "-m", path, "-p", "x"], mentioning: "past the end of the file")
    }

    @Test func unknownTensorType() throws {
        var tiny = TinyModel()
        tiny.matrixType = .f32
        var bytes = tiny.ggufBytes()
        // Patch the first tensor's type (F32 = 0) to 19, a ggml type Braid does not support.
        let name = Array("token_embd.weight".utf8)
        let start = try #require((0..<bytes.count - name.count).first { Array(bytes[$0..<$0 + name.count]) == name })
        let typeOffset = start + name.count + 4 + 2 * 8  // n_dims u32, two u64 dims
        bytes[typeOffset] = 19
        let path = try TinyModel.writeTemporary(bytes, suffix: ".gguf")
        try CLI.expectFailure(["generate", "-m", path, "-p", "x"], mentioning: "unsupported type 19")
    }

    @Test func unsupportedArchitecture() throws {
        var tiny = TinyModel()
        tiny.extraMetadata = [("general.architecture", .string("rwkv6"))]
        try CLI.expectFailure(["generate", "-m", try tiny.write(), "-p", "x"], mentioning: "unsupported architecture 'rwkv6'")
    }

    @Test func missingMetadataKey() throws {
        var tiny = TinyModel(architecture: "qwen2")
        tiny.extraMetadata = [("general.architecture", .string("llama"))]
        try CLI.expectFailure(["generate", "-m", try tiny.write(), "-p", "x"], mentioning: "missing metadata key 'llama.")
    }

    @Test func promptLongerThanContext() throws {
        try CLI.expectFailure(["generate", "-m", model, "-p", String(repeating: "abc ", count: 50), "-c", "32"],
                              mentioning: "longer than the context")
    }

    @Test("negative or NaN sampling parameters", arguments: [
        ["--temperature", "-1"], ["--temperature", "nan"], ["--top-p", "nan"], ["--top-p", "1.5"],
        ["--min-p", "-0.2"], ["--top-k", "-1"], ["--repeat-penalty", "0"], ["-n", "-5"], ["--threads", "0"],
    ])
    func badSampling(arguments: [String]) throws {
        try CLI.expectFailure(["generate", "-m", model, "-p", "x"] + arguments, mentioning: "must be")
    }

    @Test func extremeLimits() throws {
        let result = try CLI.run(["generate", "-m", model, "-p", "hi", "-n", "9223372036854775807", "--temperature", "0", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        try CLI.expectFailure(["generate", "-m", model, "-p", "hi", "-c", "99999999"], mentioning: "exceeds the model's 64")
    }

    @Test func unknownModelName() throws {
        try CLI.expectFailure(["generate", "-m", "no-such-model", "-p", "x"], mentioning: "no model file or manifest name 'no-such-model'")
    }

    @Test("bench: out-of-range counts", arguments: [
        (["-p", "0"], "-p/--prompt-tokens must be ≥ 1"), (["-n", "0"], "-n/--gen-tokens must be ≥ 1"),
        (["-r", "0"], "-r/--repetitions must be ≥ 1"), (["--batch", "0"], "--batch values must be ≥ 1"),
        (["--batch", "2,x"], "--batch takes integers"), (["--branches", "0"], "--branches values must be ≥ 1"), (["-p", "60", "-n", "10"], "must fit in the model's context of 64"),
        (["--forward-sizes", "0"], "--forward-sizes values must be ≥ 1"), (["--forward-sizes", "4,64"], "--forward-sizes 64 tokens must fit"),
    ])
    func badBench(arguments: [String], message: String) throws {
        try CLI.expectFailure(["bench", "-m", model] + arguments, mentioning: message)
    }

    @Test func missingPerplexityFile() throws {
        try CLI.expectFailure(["perplexity", "-m", model, "-f", "/nonexistent.txt"], mentioning: "cannot read")
    }
}
