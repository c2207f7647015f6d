// `braid evaluate`: accuracy and token cost of aggregation operators on a set of questions with
// known answers (one JSON object per line: "question", "answer"; GSM8K's "#### N" endings work).
// Per question: one greedy chain, then N branches sampled once (with the top-20 alternatives of
// every token) that every offline operator folds. Online operators (DeepConf online, Adaptive-
// Consistency) replay the same branches: a branch's tokens depend only on its random stream, so
// the replay stops each branch exactly where a live run would, and counts the tokens a live run
// would generate; --check-live K runs them live on the first K questions and compares.
// Each question's record is appended to --records as it finishes, with the settings that shape
// its branches, and a run resumes from it; records made with other settings, or for another
// question at the same place, are refused rather than mixed in.
// --branch-details adds every branch's text, answer, length and token confidences to the record,
// so that stopping rules (and extractors) can be replayed offline (`Benchmarks/replay-stopping`) without sampling again.
import ArgumentParser
import Braid
import BraidAggregation
import Foundation

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score aggregation operators on questions with known answers (a reasoning benchmark).")

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Questions, one JSON object per line with \"question\" and \"answer\".")
    var dataset: String

    @Option(parsing: .unconditional, help: "Branches per question.")
    var branches = 8

    @Option(name: [.customShort("n"), .customLong("max-tokens")], parsing: .unconditional, help: "Most tokens per branch.")
    var maxTokens = 640

    @Option(parsing: .unconditional, help: "Sampling temperature of the branches (greedy runs at 0).")
    var temperature: Float = 0.7

    @Option(parsing: .unconditional, help: "Random seed of the branches.")
    var seed: UInt64 = 1

    @Option(help: "Comma-separated: greedy and any --aggregate operator.")
    var methods = "greedy,vote,weighted,deepconf,deepconf:online,deepconf:online:low,adaptive,best-of:ll,best-of:verify,synthesize"

    @Option(parsing: .unconditional, help: "Questions to evaluate (default: all).")
    var limit: Int?

    @Option(help: "Appends each question's result to this JSON-lines file and skips questions already in it.")
    var records: String?

    @Option(name: .customLong("check-live"), parsing: .unconditional,
            help: "Also run the online operators live on the first K questions and check they match the replay.")
    var checkLive = 0

    @Option(help: "A model that writes the answer for synthesize (default: the same model).")
    var synthesizer: String?

    @Option(help: "Appended to each question to ask for the answer's form.")
    var instruction = "Please reason step by step, and put your final answer within \\boxed{}."

    @Flag(help: "Record each branch's text, answer, token count, finish reason and token confidences (DeepConf's, 4 decimals).")
    var branchDetails = false

    @Flag(help: "Print the summary as one JSON object.")
    var json = false

    func run() throws {
        try reportingErrors {
            guard branches >= 1 else { throw BraidError.invalidParameter("--branches must be ≥ 1 (got \(branches))") }
            guard maxTokens >= 1 else { throw BraidError.invalidParameter("--max-tokens must be ≥ 1 (got \(maxTokens))") }
            if let limit, limit < 1 { throw BraidError.invalidParameter("--limit must be ≥ 1 (got \(limit))") }
            guard checkLive >= 0 else { throw BraidError.invalidParameter("--check-live must be ≥ 0 (got \(checkLive))") }
            let names = methods.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !names.isEmpty else { throw BraidError.invalidParameter("--methods names no method") }
            let operators = try names.filter { $0 != "greedy" }.map { ($0, try AggregationOperators.named($0)) }
            let questions = try Self.load(dataset, limit: limit)
            var done = try records.map(Self.loadRecords) ?? [:]
            if let records { try Self.checkQuestions(of: done, in: records, against: questions) }

            let (model, _) = try modelOptions.load()
            let settings = try runSettings(model: model)
            if let records { try Self.checkSettings(of: done, in: records, against: settings) }
            var sampling = SamplingParameters()
            sampling.temperature = temperature
            sampling.seed = seed
            let parameters = GenerationParameters(maxTokens: maxTokens, sampling: sampling, threads: modelOptions.threads,
                                                  topLogprobs: AggregationOperators.confidenceAlternatives)
            try parameters.sampling.validate()
            let prompts = try questions.map { model.tokenizer.encode(try model.chatPrompt(user: $0.question + "\n" + instruction)) }
            let session = try GenerationSession(model: model, parameters: parameters, promptTokens: prompts.map(\.count).max() ?? 0,
                                                reasoningBudget: branches)
            let writer = try synthesizer.map { try GenerationSession(synthesizer: modelOptions.load($0), parameters: parameters) }
            let greedy = GenerationParameters(maxTokens: maxTokens, sampling: .greedy, threads: modelOptions.threads)
            for (index, item) in questions.enumerated() where done[index] == nil {
                let clock = ContinuousClock()
                let start = clock.now
                let promptTokens = prompts[index]
                var results: [String: Any] = [:]
                func score(_ answer: String?, generated: Int, judging: Int, sampled: Int) -> [String: Any] {
                    ["answer": answer as Any, "correct": answer == item.answer, "generated_tokens": generated, "judge_tokens": judging,
                     "branches": sampled]
                }
                if names.contains("greedy") {
                    let chain = try session.generate(promptTokens: promptTokens, parameters: greedy)
                    results["greedy"] = score(AnswerExtraction.math.extract(from: chain.text, endedBy: chain.finishReason), generated: chain.tokens.count, judging: 0, sampled: 1)
                }
                let prepared = try session.prepare(promptTokens: promptTokens, parameters: parameters)
                defer { session.release(prepared) }
                let sampled = try session.generateBranches(from: prepared, streams: 0..<branches, parameters: parameters).branches
                let recorded = RecordedBranches(sampled, tokenizer: model.tokenizer)
                var liveMatches: Bool?
                for (name, aggregation) in operators {
                    func context(_ source: BranchSource) throws -> AggregationContext {
                        try AggregationContext(source: source, budget: branches, extractor: AnswerExtraction.math, question: item.question,
                                               judge: ModelJudge(session: session, promptTokens: promptTokens),
                                               synthesizer: writer.map { ModelJudge(session: $0) })
                    }
                    let replay = try aggregation.run(context(recorded))
                    results[name] = score(replay.answer, generated: replay.generatedTokens, judging: replay.judgeTokens,
                                                      sampled: replay.candidates.count)
                    if index < checkLive && aggregation.samplesInRounds {
                        let live = try aggregation.run(context(LiveBranches(session: session, prompt: prepared, parameters: parameters)))
                        let same = live.answer == replay.answer && live.candidates.map(\.branch.tokens) == replay.candidates.map(\.branch.tokens)
                        liveMatches = (liveMatches ?? true) && same
                    }
                }
                var record: [String: Any] = [
                    "index": index, "gold": item.answer, "question_hash": Self.hash(item.question), "methods": results, "settings": settings,
                    "kv_peak_bytes": session.cache.peakUsedBlocks * session.cache.bytesPerBlock,
                    "ms": (clock.now - start).milliseconds,
                ]
                if let id = item.id { record["id"] = id }
                if let liveMatches { record["live_matches_replay"] = liveMatches }
                if branchDetails { record["branches"] = sampled.map(Self.details) }
                done[index] = record
                if let records { try Self.append(record, to: records) }
                let line = names.map { name in "\(name) \((results[name] as? [String: Any])?["correct"] as? Bool == true ? "✓" : "✗")" }
                FileHandle.standardError.write(Data(String(format: "braid: question %d/%d (%.0f s): %@\n", index + 1, questions.count,
                                                           (clock.now - start).milliseconds / 1000,
                                                           line.joined(separator: " · ")).utf8))
            }
            try report(Array(done.values), names: names, model: model)
        }
    }

    /// Accuracy and tokens per method over the records that hold it (a method added to a run
    /// that had begun is missing from the questions before), as a table or one JSON object.
    func report(_ records: [[String: Any]], names: [String], model: LanguageModel) throws {
        func result(_ record: [String: Any], _ name: String) -> [String: Any]? {
            (record["methods"] as? [String: Any])?[name] as? [String: Any]
        }
        let rows: [[String: Any]] = names.map { name in
            let holding = records.filter { result($0, name) != nil }
            func total(_ method: String, _ key: String) -> Int { holding.reduce(0) { $0 + (result($1, method)?[key] as? Int ?? 0) } }
            let correct = holding.filter { result($0, name)?["correct"] as? Bool == true }.count
            let generated = total(name, "generated_tokens"), voteTokens = total("vote", "generated_tokens")
            return ["method": name, "questions": holding.count, "accuracy": holding.isEmpty ? 0 : Double(correct) / Double(holding.count),
                    "correct": correct, "generated_tokens": generated, "judge_tokens": total(name, "judge_tokens"),
                    "tokens_vs_vote": voteTokens > 0 ? Double(generated) / Double(voteTokens) : 0]
        }
        let peak = records.map { $0["kv_peak_bytes"] as? Int ?? 0 }.max() ?? 0
        let checks = records.compactMap { $0["live_matches_replay"] as? Bool }
        if json {
            try printJSON(["model": model.file.path, "questions": records.count, "branches": branches, "max_tokens": maxTokens,
                           "temperature": temperatureAsGiven, "seed": NSNumber(value: seed), "methods": rows, "kv_peak_bytes": peak,
                           "live_checks": checks.count, "live_checks_matching": checks.filter { $0 }.count])
            return
        }
        writeOut("\(records.count) questions, \(branches) branches, \(maxTokens) tokens at most\n")
        let width = max(20, names.map(\.count).max() ?? 0)
        writeOut("method".padding(toLength: width, withPad: " ", startingAt: 0) + " questions  accuracy   generated tokens  vs vote  judging tokens\n")
        for row in rows {
            let name = (row["method"] as? String ?? "").padding(toLength: width, withPad: " ", startingAt: 0)
            writeOut(name + String(format: " %9d  %6.1f%%   %16d  %6.2f  %14d\n", row["questions"] as? Int ?? 0, 100 * (row["accuracy"] as? Double ?? 0),
                                   row["generated_tokens"] as? Int ?? 0, row["tokens_vs_vote"] as? Double ?? 0, row["judge_tokens"] as? Int ?? 0))
        }
        writeOut(String(format: "KV peak %.1f MiB; live runs matching the replay: %d of %d\n", Double(peak) / 1_048_576,
                        checks.filter { $0 }.count, checks.count))
    }

    /// A question of a dataset: its text, its answer normalized as branch answers are, and its
    /// "id" where the dataset gives one.
    struct Question {
        let question: String
        let answer: String
        let id: String?
    }

    /// The questions of the dataset at `path`.
    static func load(_ path: String, limit: Int?) throws -> [Question] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw BraidError.invalidParameter("cannot read the dataset \(path)")
        }
        let lines = text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        let items = try lines.prefix(limit ?? lines.count).enumerated().map { number, line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let question = object["question"] as? String, let raw = object["answer"] as? String ?? (object["answer"] as? NSNumber)?.stringValue,
                  let answer = AnswerExtraction.math.extract(from: raw) else {
                throw BraidError.invalidParameter("\(path) line \(number + 1): expected {\"question\": …, \"answer\": …} with a numeric answer")
            }
            return Question(question: question, answer: answer, id: object["id"] as? String)
        }
        guard !items.isEmpty else { throw BraidError.invalidParameter("\(path) holds no questions") }
        return items
    }

    /// The temperature as given (0.7, not the Float's 0.699999988…), for the summary and the records.
    var temperatureAsGiven: Double { Double("\(temperature)") ?? 0 }

    /// What shapes a question's greedy chain and branches, as a record holds it (through JSON, so
    /// that it compares equal to a record read back). Models by name (file name without its
    /// directory and extension); activation bits as the build applies them (16 without VNNI).
    func runSettings(model: LanguageModel) throws -> [String: Any] {
        var settings: [String: Any] = [
            "model": model.name, "branches": branches, "max_tokens": maxTokens, "temperature": temperatureAsGiven,
            "seed": seed, "instruction": instruction,
            "activation_bits": KernelPath.compiledForVNNI ? modelOptions.activationBits.rawValue : 16,
        ]
        // Only where it differs from the default, so that records made before the option match.
        if modelOptions.kvType != .f32 { settings["kv_type"] = modelOptions.kvType.rawValue }
        if let synthesizer { settings["synthesizer"] = URL(fileURLWithPath: synthesizer).deletingPathExtension().lastPathComponent }
        let data = try JSONSerialization.data(withJSONObject: settings, options: [.sortedKeys])
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    /// Refuses to resume from records of other questions: another question (or gold answer) at
    /// an index of the dataset. Records from before questions were hashed are checked by answer.
    static func checkQuestions(of records: [Int: [String: Any]], in path: String, against questions: [Question]) throws {
        for (index, record) in records.sorted(by: { $0.key < $1.key }) where index < questions.count {
            let question = questions[index]
            if let gold = record["gold"] as? String, gold != question.answer {
                throw BraidError.invalidParameter("\(path) holds question \(index + 1) with answer '\(gold)', the dataset's is " +
                                                  "'\(question.answer)': records of another dataset? Use another --records file")
            }
            if let recorded = record["question_hash"] as? String, recorded != hash(question.question) {
                throw BraidError.invalidParameter("\(path) holds another question \(index + 1) than the dataset: records of another dataset? " +
                                                  "Use another --records file")
            }
        }
    }

    /// Refuses to resume from records made with other settings (any record, also past `--limit`:
    /// the summary counts them all). Records from before settings were kept are taken as they are.
    static func checkSettings(of records: [Int: [String: Any]], in path: String, against settings: [String: Any]) throws {
        for (_, record) in records.sorted(by: { $0.key < $1.key }) {
            guard let recorded = record["settings"] as? [String: Any] else { continue }
            for key in Set(recorded.keys).union(settings.keys).sorted()
            where !NSDictionary(dictionary: [key: recorded[key] ?? NSNull()]).isEqual(to: [key: settings[key] ?? NSNull()]) {
                throw BraidError.invalidParameter("\(path) was recorded with \(key) \(recorded[key].map { "\($0)" } ?? "unset"), " +
                                                  "this run has \(settings[key].map { "\($0)" } ?? "unset"): use another --records file")
            }
        }
    }

    /// A stable hash of a question's text (64-bit FNV-1a of its UTF-8 bytes, in hex): the same in
    /// every run, unlike `Hasher`.
    static func hash(_ text: String) -> String {
        let value = text.utf8.reduce(UInt64(0xCBF2_9CE4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x0000_0100_0000_01B3 }
        return String(value, radix: 16)
    }

    /// A branch as `--branch-details` records it.
    static func details(_ branch: Branch) -> [String: Any] {
        ["stream": branch.stream, "answer": AnswerExtraction.math.extract(from: branch.text, endedBy: branch.finishReason) as Any,
         "text": branch.text, "tokens": branch.tokens.count,
         "finish_reason": branch.finishReason.rawValue,
         "confidences": DeepConf.tokenConfidences(branch).map { ($0 * 10_000).rounded() / 10_000 }]
    }

    /// Records already written, by question index.
    static func loadRecords(_ path: String) throws -> [Int: [String: Any]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var records: [Int: [String: Any]] = [:]
        for line in text.split(separator: "\n") {
            if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let index = object["index"] as? Int {
                records[index] = object
            }
        }
        return records
    }

    static func append(_ record: [String: Any], to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) + Data("\n".utf8)
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw BraidError.invalidParameter("cannot write \(path)") }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: data)
    }
}
