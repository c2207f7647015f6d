// Loading the llama.cpp golden fixtures (Tests/Fixtures/llamacpp, see its README for how they
// were made) and the real models they belong to.
import Braid
import Foundation

enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/llamacpp")

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw BraidError.invalidParameter("fixture \(name) is not a JSON object")
        }
        return object
    }

    /// The two real models of the golden tests; fetched by tools/fetch-models (CI does it).
    static let modelNames = ["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"]

    nonisolated(unsafe) private static var loaded: [String: LanguageModel] = [:]
    private static let lock = NSLock()

    /// A real model, loaded once per test process (and per activation precision).
    static func model(_ name: String, activations: ActivationPrecision = .fifteenBit) throws -> LanguageModel {
        lock.lock()
        defer { lock.unlock() }
        let key = "\(name) \(activations.rawValue)"
        if let model = loaded[key] { return model }
        let model = try LanguageModel.load(name, activations: activations)
        loaded[key] = model
        return model
    }
}

/// One greedy case of a `greedy-*.json` fixture.
struct GreedyCase {
    let prompt: String
    let promptTokens: [Int32]
    let tokens: [Int32]
    /// Per step: the top-5 (token, logit), best first.
    let top5: [[(token: Int32, logit: Float)]]

    /// Top-1 minus top-2 logit at `step`.
    func margin(_ step: Int) -> Float { top5[step][0].logit - top5[step][1].logit }

    /// The llama.cpp fixture (`llamacpp/greedy-*.json`) or the exact float64 one (`exact/teacher-forced-*.json`).
    static func load(model: String, exact: Bool = false) throws -> [GreedyCase] {
        let fixture = try Fixtures.json(exact ? "../exact/teacher-forced-\(model).json" : "greedy-\(model).json")
        let cases = fixture["cases"] as? [[String: Any]] ?? []
        return cases.map { c in
            let steps = c["steps"] as? [[String: Any]] ?? []
            return GreedyCase(
                prompt: c["prompt"] as? String ?? "",
                promptTokens: (c["prompt_tokens"] as? [Int] ?? []).map(Int32.init),
                tokens: (c["tokens"] as? [Int] ?? []).map(Int32.init),
                top5: steps.map { step in
                    (step["top5"] as? [[Double]] ?? []).map { (Int32($0[0]), Float($0[1])) }
                })
        }
    }
}
