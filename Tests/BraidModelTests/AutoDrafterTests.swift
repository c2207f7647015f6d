// `auto`'s choices, driven by simulated steps: it settles on the fastest option, and what its
// retries of slower ones cost stays within its warm-up and exploration budget.
@testable import Braid
import Testing

@Suite("Auto drafter")
struct AutoDrafterTests {
    /// A drafter whose every step produces `tokens` tokens in `milliseconds` (simulated), after
    /// a catch-up of `catchUpPerToken` ms per token decoded while it was not drafting. It drafts
    /// 4 tokens of its own `id`, so that a step tells which drafter made it. A lookup drafts only
    /// where `matches` says the text repeats (and nothing elsewhere). `start`: the tokens and
    /// milliseconds of its first steps instead, as at the start of an answer. With `costs`, its
    /// verification forwards (5 rows) go into them, as a real drafter's do.
    final class SimulatedDrafter: Drafter {
        let name: String, id: TokenID
        let steady: (tokens: Int, milliseconds: Double), catchUpPerToken: Double
        let start: (tokens: Int, milliseconds: Double, steps: Int)?
        let matches: ((Int) -> Bool)?
        var costs: ForwardCosts?
        private var seen = 0, steps = 0
        /// The tokens and time of the current step.
        private var step: (tokens: Int, milliseconds: Double) {
            if let start, steps <= start.steps { return (start.tokens, start.milliseconds) }
            return steady
        }
        var tokens: Int { step.tokens }
        var milliseconds: Double { step.milliseconds }
        private(set) var catchUpMilliseconds = 0.0
        var isLookup: Bool { matches != nil }
        /// A lookup knows its speed where it matches.
        var expectedTokensPerMillisecond: Double? { isLookup ? Double(tokens) / milliseconds : nil }

        init(name: String, id: TokenID, tokens: Int, milliseconds: Double, catchUpPerToken: Double = 0,
             start: (tokens: Int, milliseconds: Double, steps: Int)? = nil, matches: ((Int) -> Bool)? = nil) {
            (self.name, self.id, steady, self.catchUpPerToken) = (name, id, (tokens, milliseconds), catchUpPerToken)
            (self.start, self.matches) = (start, matches)
        }

        func draft(context: [TokenID], maximumDepth: Int) throws -> DraftTree {
            if let matches, !matches(context.count) { return DraftTree() }
            catchUpMilliseconds = Double(context.count - seen) * catchUpPerToken
            seen = context.count
            steps += 1
            return DraftTree(chain: Array(repeating: id, count: 4))
        }

        func observe(_ verification: Verification, tree: DraftTree, context: [TokenID]) {
            seen = context.count
            costs?.record(rows: 5, milliseconds: verification.forwardMilliseconds)
        }
    }

    /// Runs `auto` over `options` until `length` tokens are produced, plain steps taking 60 ms for
    /// one token; returns the simulated time and the steps per option name. With `slowdown`, every
    /// time is multiplied by it of the tokens produced so far (the machine's drift), and the
    /// options record their forwards into the costs `auto` sees.
    static func simulate(_ options: [SimulatedDrafter], length: Int = 2000,
                         slowdown: ((Int) -> Double)? = nil) throws -> (milliseconds: Double, steps: [String: Int]) {
        let costs = ForwardCosts()
        if slowdown != nil { for option in options { option.costs = costs } }
        let auto = AutoDrafter(options: options, costs: costs)
        var context = [TokenID](repeating: 1, count: 50), time = 0.0
        while context.count < 50 + length {
            let tree = try auto.draft(context: context, maximumDepth: 16)
            let drafter = options.first { $0.id == tree.tokens.first }
            let produced = drafter?.tokens ?? 1
            var verification = Verification(acceptedNodes: Array(0..<(produced - 1)), acceptedTokens: Array(repeating: 7, count: produced - 1),
                                            next: 7, targetChoices: [])
            let factor = slowdown?(context.count - 50) ?? 1
            verification.draftMilliseconds = (drafter?.catchUpMilliseconds ?? 0) * factor
            verification.forwardMilliseconds = (drafter?.milliseconds ?? 60) * factor
            time += verification.draftMilliseconds + verification.forwardMilliseconds
            context += Array(repeating: 7, count: produced)
            auto.observe(verification, tree: tree, context: context)
        }
        return (time, auto.choices)
    }

    @Test("settles on a drafter that beats plain decoding")
    func choosesTheFastest() throws {
        let fast = SimulatedDrafter(name: "fast", id: 10, tokens: 3, milliseconds: 100, catchUpPerToken: 5)  // 30 tokens/s against 16.7
        let slow = SimulatedDrafter(name: "slow", id: 11, tokens: 2, milliseconds: 150)                      // 13.3 tokens/s
        let (time, steps) = try Self.simulate([fast, slow])
        #expect(steps["fast", default: 0] > 9 * (steps["slow", default: 0] + steps["none", default: 0]), "\(steps)")
        #expect(time < 2000 / 3 * 100 * 1.05, "\(time) ms against \(2000 / 3 * 100) ms for the fast drafter alone")
    }

    @Test("keeps a draft model that was about as fast as plain decoding over its warm-up, the start of the answer")
    func keepsAWarmedUpDraftModel() throws {
        // Its first twenty steps: 2 tokens in 122 ms (16.4 tokens/s, within the margin of plain
        // decoding's 16.7); then 3 tokens in 100 ms (30 tokens/s). A catch-up costs a quarter of a
        // plain step per token, as the 0.5B drafting for the 1.5B does.
        let model = SimulatedDrafter(name: "model", id: 10, tokens: 3, milliseconds: 100, catchUpPerToken: 15,
                                     start: (tokens: 2, milliseconds: 122, steps: 2 * AutoDrafter.warmupSteps))
        let (time, steps) = try Self.simulate([model])
        #expect(steps["model", default: 0] > 9 * steps["none", default: 0], "\(steps)")
        #expect(time < 2000 / 3 * 100 * 1.05, "\(time) ms against \(2000 / 3 * 100) ms for the model from the start")
    }

    @Test("keeps a draft model that beats plain decoding while the machine's speed swings")
    func keepsTheDraftModelThroughDrift() throws {
        // 3 tokens in 170 ms (17.6 tokens/s against plain decoding's 16.7), while every step takes
        // 1.4 times as long in alternate stretches of 100 tokens, as on a shared VM. Measured in
        // milliseconds, plain decoding's speed from a fast stretch beat the model's from a slow
        // one, and plain decoding took nearly all the steps: 1.08 times the model's time alone, 1.02
        // times plain decoding's.
        let model = SimulatedDrafter(name: "model", id: 10, tokens: 3, milliseconds: 170, catchUpPerToken: 15)
        let slowdown: (Int) -> Double = { ($0 / 100) % 2 == 0 ? 1 : 1.4 }
        let (time, steps) = try Self.simulate([model], slowdown: slowdown)
        let modelAlone = stride(from: 0, to: 2000, by: 3).reduce(0.0) { $0 + 170 * slowdown($1) }
        #expect(steps["model", default: 0] > 20 * steps["none", default: 0], "\(steps)")
        #expect(time < modelAlone * 1.02, "\(time) ms against \(modelAlone) ms for the model from the start")
    }

    @Test("keeps plain decoding when every drafter loses, within a few percent of its time")
    func keepsPlainDecoding() throws {
        let costly = SimulatedDrafter(name: "costly", id: 10, tokens: 2, milliseconds: 130, catchUpPerToken: 5)  // 15.4 tokens/s
        let slow = SimulatedDrafter(name: "slow", id: 11, tokens: 1, milliseconds: 90)                            // 11.1 tokens/s
        let (time, steps) = try Self.simulate([costly, slow])
        let plainTime = 2000 * 60.0
        #expect(steps["none", default: 0] > 9 * (steps["costly", default: 0] + steps["slow", default: 0]), "\(steps)")
        #expect(time < plainTime * 1.05, "\(time) ms against \(plainTime) ms for plain decoding")
    }

    @Test("takes a lookup where the text repeats and the draft model between, faster than either alone")
    func combinesALookupWithADraftModel() throws {
        // The text repeats in alternate stretches of 40 tokens; there a lookup gives 4 tokens per
        // 70 ms step (57 tokens/s), elsewhere nothing. The draft model: 30 tokens/s throughout.
        let repeats: (Int) -> Bool = { ($0 / 40) % 2 == 0 }
        func options() -> [SimulatedDrafter] {
            [SimulatedDrafter(name: "lookup", id: 12, tokens: 4, milliseconds: 70, matches: repeats),
             SimulatedDrafter(name: "model", id: 10, tokens: 3, milliseconds: 100, catchUpPerToken: 5)]
        }
        let (both, steps) = try Self.simulate(options())
        let lookupAlone = try Self.simulate([options()[0]]).milliseconds, modelAlone = try Self.simulate([options()[1]]).milliseconds
        #expect(steps["lookup", default: 0] > 100 && steps["model", default: 0] > 100, "\(steps)")
        #expect(both < 0.92 * min(lookupAlone, modelAlone), "\(both) ms against \(lookupAlone) (lookup alone), \(modelAlone) (model alone)")
    }

    @Test("leaves a draft model cold while a lookup covers the text, as on an edit that copies its prompt")
    func leavesTheDraftModelCold() throws {
        // The lookup matches 36 tokens in every 40; a draft model would first catch up on the
        // whole context, at 20 ms a token.
        let covered: (Int) -> Bool = { $0 % 40 >= 4 }
        func options() -> [SimulatedDrafter] {
            [SimulatedDrafter(name: "lookup", id: 12, tokens: 4, milliseconds: 70, matches: covered),
             SimulatedDrafter(name: "model", id: 10, tokens: 3, milliseconds: 100, catchUpPerToken: 20)]
        }
        let (time, steps) = try Self.simulate(options())
        let lookupAlone = try Self.simulate([options()[0]]).milliseconds
        #expect(steps["model", default: 0] == 0, "\(steps)")
        #expect(time < lookupAlone * 1.01, "\(time) ms against \(lookupAlone) ms for the lookup alone")
    }

    @Test("turns from a draft model to plain decoding when a lookup comes to cover most of the text")
    func dropsTheDraftModelWhereTheLookupCovers() throws {
        // No repeats in the first 150 tokens, then the lookup matches 36 tokens in every 40. The
        // draft model (30 tokens/s) would then catch up on each lookup draft, at 10 ms a token.
        let covered: (Int) -> Bool = { $0 >= 200 && $0 % 40 >= 4 }
        func options() -> [SimulatedDrafter] {
            [SimulatedDrafter(name: "lookup", id: 12, tokens: 4, milliseconds: 70, matches: covered),
             SimulatedDrafter(name: "model", id: 10, tokens: 3, milliseconds: 100, catchUpPerToken: 10)]
        }
        let (time, steps) = try Self.simulate(options())
        let lookupAlone = try Self.simulate([options()[0]]).milliseconds, modelAlone = try Self.simulate([options()[1]]).milliseconds
        #expect(steps["model", default: 0] > 20, "\(steps)")
        #expect(time < lookupAlone * 1.03 && time < 0.85 * modelAlone,
                "\(time) ms against \(lookupAlone) (lookup alone), \(modelAlone) (model alone); \(steps)")
    }

    /// Plain tokens `auto` decodes from a context of `promptLength` before it first asks the
    /// draft model `model` (a lookup among `options` drafts where it matches, each of its drafts
    /// accepted).
    static func plainTokensBeforeDraftModel(_ options: [SimulatedDrafter], model: SimulatedDrafter, promptLength: Int) throws -> Int {
        let auto = AutoDrafter(options: options)
        var context = [TokenID](repeating: 1, count: promptLength), plainTokens = 0
        while context.count < promptLength + 1000 {
            let tree = try auto.draft(context: context, maximumDepth: 16)
            let drafter = options.first { $0.id == tree.tokens.first }
            if drafter === model { return plainTokens }
            let produced = drafter?.tokens ?? 1
            if drafter == nil { plainTokens += 1 }
            var verification = Verification(acceptedNodes: Array(0..<(produced - 1)), acceptedTokens: Array(repeating: 7, count: produced - 1),
                                            next: 7, targetChoices: [])
            verification.forwardMilliseconds = drafter?.milliseconds ?? 60
            context += Array(repeating: 7, count: produced)
            auto.observe(verification, tree: tree, context: context)
        }
        return plainTokens
    }

    @Test("warms a draft model up after a tenth of the context decoded plainly while no lookup draft was accepted, a quarter once one was")
    func warmUpShare() throws {
        // Plain tokens p from a context of 200: p ≥ 0.1·(200 + p) at p = 23; p ≥ 0.25·(200 + 2·10 + p) at p = 74.
        let model = SimulatedDrafter(name: "model", id: 10, tokens: 3, milliseconds: 100, catchUpPerToken: 5)
        #expect(try Self.plainTokensBeforeDraftModel([model], model: model, promptLength: 200) == 23)
        let earlyLookup = SimulatedDrafter(name: "lookup", id: 11, tokens: 2, milliseconds: 62) { $0 < 220 }
        let copying = try Self.plainTokensBeforeDraftModel([model, earlyLookup], model: model, promptLength: 200)
        #expect(copying >= 70 && copying <= 76, "\(copying)")
    }
}
