// `auto`: per step, the drafter (or none: plain decoding) with the most tokens per unit of time
// measured so far. Two kinds of option share the steps:
//
//   - *lookups* (n-grams), asked at every step because asking costs nothing: their draft is used
//     whenever the speed they expect of it (from their acceptance after matches of its length)
//     beats the chosen option's, counting the chosen draft model's catch-up on the tokens they
//     produce. A draft not used is still checked against what the step produced, so lookups
//     keep learning and are never retried;
//   - the *chosen* option: plain decoding or a drafter that costs something to ask (a draft
//     model), whichever would have been fastest over the recent steps *together with the
//     lookups*: their steps as they were, plus a draft model's catch-up on the tokens they
//     produced, and the other tokens at the option's own speed. So where long lookup drafts cover
//     much of the text, a draft model that is faster than plain decoding on its own steps still
//     loses: between the lookups' drafts it would pay a catch-up. It is kept until another is
//     clearly faster (speeds of single steps are noisy, and a switch to a draft model costs a
//     catch-up over the text it missed).
//
//   step:  lookup finds a match and pays?  ── yes → its draft
//                   │ no
//          a retry due within the budget?  ── yes → the losing option, for a few steps
//                   │ no
//          the chosen option
//
// At the start plain decoding is asked a few times (lookups need no warm-up: they learn from every
// step). A draft model, whose first turn is a forward over the whole text so far, is warmed up
// only once the tokens decoded plainly (where it could have helped) reach a share of that text: on
// an edit that copies its prompt the lookups cover most of the answer, and the draft model would
// cost more than it saves. Once warmed up it is chosen, and kept unless another is clearly faster.
//
// All options see one table of the target's forward costs by rows (`ForwardCosts`), into which
// every step goes: a lookup sizes its tree, and the draft model its k, by the costs of the
// whole generation.
//
// A losing option that is not a lookup is tried again now and then, so a request that changes
// character is noticed; but only within an exploration budget: the time such retries lose against
// the chosen option (their slower steps, and a draft model's catch-up on the tokens decoded since
// its last turn) stays within a few percent of the time so far. The catch-up of a switch is left
// out of an option's speed: it is paid once per switch, not per step.
//
// Times are kept in *plain forwards*: each step's time divided by the target's one-row forward
// cost at that moment (`ForwardCosts`, which every step moves). The machine's speed drifts
// (10–20% within a minute on a shared VM), and an option not chosen keeps the speed it was
// measured at: in milliseconds, plain decoding measured at the start (78 ms a token) beat a draft
// model measured a minute later, when every forward took a quarter longer, and displaced it for
// the rest of the answer (2026-12-07, code prompt 0 on the 1.5B). In plain forwards both are
// measured against the same yardstick whenever they ran.

/// Chooses among drafters, and plain decoding, by measured speed.
public final class AutoDrafter: Drafter {
    public var name: String { "auto" }
    private let options: [any Drafter]
    /// Per option (the last is plain decoding): running averages of tokens and time (in plain
    /// forwards) per step (drafting and verifying) on its own steps, steps measured and times
    /// asked to draft.
    private var tokens: [RunningAverage], times: [RunningAverage], trials: [Int], asked: [Int]
    /// Running averages over all steps of the tokens that lookup drafts produced and their time,
    /// and of the tokens produced otherwise (zero where a step had none).
    private var lookupTokens = RunningAverage(smoothing: AutoDrafter.smoothing)
    private var lookupTimes = RunningAverage(smoothing: AutoDrafter.smoothing)
    private var otherTokens = RunningAverage(smoothing: AutoDrafter.smoothing)
    /// Steps until each losing option may be tried again, and the current wait.
    private var retryIn: [Int], retryWait: [Int]
    /// Per option: the context length when it last drafted, and its catch-up time per token missed.
    private var lastSeen: [Int], catchUpPerToken: [RunningAverage]
    /// The option that drafts unless a lookup pays or a retry is under way: the fastest of plain
    /// decoding and the drafters that are not lookups, with the lookups, kept until another is
    /// clearly faster.
    private var chosen: Int?
    private var current = 0
    /// Steps left in the current retry, and whether the current step is one.
    private var retrySteps = 0, exploring = false
    /// Lookups whose draft (or check of a draft not made) this step did not use.
    private var declined: [Int] = []
    /// Tokens decoded plainly (no drafter drafted): those a draft model could have sped up; and
    /// whether a token of a lookup draft has been accepted.
    private var plainTokens = 0, lookupDraftAccepted = false
    /// Time of all steps, and what retries lost against the chosen option.
    private var elapsed = 0.0, explorationCost = 0.0
    /// Times each drafter is asked to draft at the start (enough steps to see past the first
    /// words of an answer, which are seldom typical of the rest), and plain decoding steps (whose
    /// speed is a forward's, the same for any text).
    static let warmupSteps = 10, plainWarmupSteps = 2
    /// Steps of one retry of a losing option.
    static let retryLength = 3
    /// Most steps a losing option waits before it is tried again.
    static let longestWait = 32
    /// How much faster (as a fraction) another option must be to replace the chosen one.
    static let switchMargin = 0.05
    /// Tokens decoded plainly, as a share of the context, from which a draft model is warmed up.
    /// Its first turn is a forward over the whole context, about 0.3 of a plain step per token
    /// here (the 0.5B prefills 130 tokens/s, the 1.5B decodes 35), and it saves at best about a
    /// quarter of a plain step on a token decoded plainly: so it pays only where the plain tokens
    /// still to come exceed the context, and waiting until a share of them are seen (while
    /// lookups cover the text, as on edits that copy the prompt, they never are) loses at most
    /// what the model would have saved on those.
    static let lazyWarmUp = 0.25
    /// The share from which a draft model is warmed up while no token of a lookup draft has been
    /// accepted yet: text that copies nothing (code written from a short request) is decoded
    /// plainly from its first token, and waiting for a quarter of the context there left 16–24 of
    /// 256 tokens to plain decoding (2026-12-06: `auto` 0.92× the draft model alone on code; 0.97×
    /// with this). On an edit a lookup draft is accepted from the first copied line, before this
    /// share is reached.
    static let eagerWarmUp = 0.1
    /// Share of the time so far that retries of losing options may cost.
    static let explorationShare = 0.02
    /// Weight of a step in an option's running speed: about the last twenty steps count (a
    /// draft model's steps vary with its draft length, from one token in 90 ms to eight in 300).
    static let smoothing = 0.05
    /// Forwards per option chosen, by name ("none": plain decoding).
    public private(set) var choices: [String: Int] = [:]

    /// The target's forward costs, shared with the options, into which plain steps are recorded.
    private let costs: ForwardCosts

    /// Chooses among `options` and plain decoding; `costs` are the target's forward costs the
    /// options record their steps into (plain steps are recorded here).
    public init(options: [any Drafter], costs: ForwardCosts = ForwardCosts()) {
        self.options = options
        self.costs = costs
        let count = options.count + 1
        tokens = Array(repeating: RunningAverage(smoothing: Self.smoothing), count: count)
        times = Array(repeating: RunningAverage(smoothing: Self.smoothing), count: count)
        trials = Array(repeating: 0, count: count)
        asked = Array(repeating: 0, count: count)
        retryIn = Array(repeating: 0, count: count)
        retryWait = Array(repeating: 4, count: count)
        lastSeen = Array(repeating: 0, count: count)
        catchUpPerToken = Array(repeating: RunningAverage(), count: count)
    }

    private var plain: Int { options.count }

    /// The unit of every time here, in milliseconds: the target's forward of one row as last
    /// measured (nil before the first step).
    private var plainForward: Double? { costs.estimate(rows: 1).flatMap { $0 > 0 ? $0 : nil } }

    /// Plain decoding and the drafters that are not lookups: the options that can be chosen.
    private var choosable: [Int] { [plain] + options.indices.filter { !options[$0].isLookup } }

    /// Tokens per plain forward of `option` on its own steps.
    private func rate(_ option: Int) -> Double {
        guard let produced = tokens[option].value, let time = times[option].value, time > 0 else { return 0 }
        return produced / time
    }

    /// Tokens per plain forward had `option` been chosen over the recent steps, lookups included:
    /// the lookups' steps as they were, plus a draft model's catch-up on their tokens; the other
    /// tokens at the option's own speed.
    private func rateWithLookups(_ option: Int) -> Double {
        let own = rate(option)
        guard own > 0, let lookup = lookupTokens.value, let lookupTime = lookupTimes.value, let other = otherTokens.value else {
            return own
        }
        let catchUp = option == plain ? 0 : (catchUpPerToken[option].value ?? 0) * lookup
        return (lookup + other) / (lookupTime + catchUp + other / own)
    }

    /// The fastest option that can be chosen, counting the lookups.
    private var fastest: Int { choosable.max { rateWithLookups($0) < rateWithLookups($1) } ?? plain }

    /// Whether lookup `option`'s draft beats `chosen`: the speed it expects of the draft (or,
    /// without an expectation, its measured speed on the steps it drafted; yes before any),
    /// counting the catch-up `chosen` will then need on the tokens it produces.
    private func lookupPays(_ option: Int, over chosen: Int) -> Bool {
        let expected = options[option].expectedTokensPerMillisecond.map { $0 * (plainForward ?? 0) }
            ?? (tokens[option].value != nil ? rate(option) : .infinity)
        guard expected > 0 else { return false }
        let catchUp = chosen == plain ? 0 : catchUpPerToken[chosen].value ?? 0
        return 1 / (1 / expected + catchUp) > rate(chosen)
    }

    /// Whether `option` beats `chosen` clearly, counting the lookups.
    private func wins(_ option: Int, over chosen: Int) -> Bool {
        rateWithLookups(option) > rateWithLookups(chosen) * (1 + Self.switchMargin)
    }

    /// Whether `option` is still to be warmed up: plain decoding first, then the drafters that
    /// are not lookups (a draft model) once the tokens decoded plainly reach `lazyWarmUp` × the
    /// context (`eagerWarmUp` × while no token of a lookup draft has been accepted). Lookups need
    /// none: they are asked at every step and learn from every step.
    private func warmsUp(_ option: Int, contextLength: Int) -> Bool {
        guard asked[option] < (option == plain ? Self.plainWarmupSteps : Self.warmupSteps) else { return false }
        guard option != plain else { return true }
        guard asked[plain] >= Self.plainWarmupSteps, !options[option].isLookup else { return false }
        let share = lookupDraftAccepted ? Self.lazyWarmUp : Self.eagerWarmUp
        return asked[option] > 0 || Double(plainTokens) >= share * Double(contextLength)
    }

    /// What trying `option` is expected to lose against `chosen`: its catch-up on the text since
    /// its last turn, and its slower steps.
    private func retryCost(_ option: Int, chosen: Int, contextLength: Int) -> Double {
        let catchUp = (catchUpPerToken[option].value ?? 0) * Double(max(0, contextLength - lastSeen[option]))
        let chosenRate = rateWithLookups(chosen)
        guard let time = times[option].value, let produced = tokens[option].value, chosenRate > 0 else { return catchUp }
        return catchUp + Double(Self.retryLength) * max(0, time - produced / chosenRate)
    }

    public func draft(context: [TokenID], maximumDepth: Int) throws -> DraftTree {
        // Warm-up: plain decoding and then each drafter that is not a lookup asked a few times, in
        // order; then a retry under way; then a lookup's draft where one pays, a due retry that the
        // exploration budget can pay for, or the chosen option. Lookups are asked at every step.
        let warming = ([plain] + options.indices).first { warmsUp($0, contextLength: context.count) }
        if warming == nil && retrySteps == 0 {
            exploring = false
            let best = fastest
            if chosen.map({ wins(best, over: $0) }) ?? true { chosen = best }
        }
        var found: DraftTree?
        declined = []
        for option in options.indices where options[option].isLookup {
            // One that drafts nothing may still have checked a match it did not draft from.
            let tree = try options[option].draft(context: context, maximumDepth: maximumDepth)
            if found == nil && warming == nil && retrySteps == 0 && !tree.isEmpty && lookupPays(option, over: chosen ?? plain) {
                (current, found) = (option, tree)
            } else {
                declined.append(option)
            }
        }
        if let warming {
            current = warming
        } else if retrySteps > 0 {
            retrySteps -= 1
        } else if let chosen {
            if found == nil {
                // Lookups are never retried: they learn from every step, used or not.
                let budget = Self.explorationShare * elapsed - explorationCost
                current = options.indices.first {
                    $0 != chosen && !options[$0].isLookup && asked[$0] > 0 && retryIn[$0] <= 0
                        && retryCost($0, chosen: chosen, contextLength: context.count) <= budget
                } ?? chosen
                if current != chosen { (retrySteps, exploring) = (Self.retryLength - 1, true) }
            }
            for option in options.indices where option != chosen { retryIn[option] -= 1 }
        }
        asked[current] += 1
        let missed = context.count - lastSeen[current]
        let tree = try found ?? (current == plain ? DraftTree() : options[current].draft(context: context, maximumDepth: maximumDepth))
        if current != plain && missed > 0 && options[current].catchUpMilliseconds > 0, let plainForward {
            catchUpPerToken[current].add(options[current].catchUpMilliseconds / plainForward / Double(missed))
        }
        choices[tree.isEmpty ? "none" : options[current].name, default: 0] += 1
        return tree
    }

    public func observe(_ verification: Verification, tree: DraftTree, context: [TokenID]) {
        if current != plain {
            options[current].observe(verification, tree: tree, context: context)
        } else {
            costs.record(rows: 1, milliseconds: verification.forwardMilliseconds)
        }
        for option in declined { options[option].observeUnverified(produced: verification.produced) }
        // A drafter that proposed nothing made this a plain step.
        let option = tree.isEmpty ? plain : current
        // Plain steps have been recorded into the costs, so there is a unit from the first step on.
        let unit = plainForward ?? verification.forwardMilliseconds
        let catchUp = option == plain ? 0 : options[option].catchUpMilliseconds / unit
        let time = (verification.draftMilliseconds + verification.forwardMilliseconds) / unit
        elapsed += time
        if exploring, let chosen {
            let chosenRate = rateWithLookups(chosen)
            if chosenRate > 0 { explorationCost += max(0, time - Double(verification.producedTokens) / chosenRate) }
        }
        lastSeen[current] = context.count
        // An option's first step runs cold (the kernels' first forward of its row count, a draft
        // model's pages first touched) at up to three times the usual time: it is not measured.
        if trials[option] > 0 {
            tokens[option].add(Double(verification.producedTokens))
            times[option].add(max(0, time - catchUp))
        }
        trials[option] += 1
        // A drafter that costs something to ask has been warmed up: it is chosen, and kept unless
        // another is clearly faster. Its catch-up is paid, a return after leaving it costs
        // another, and ten steps at the start of an answer measure its speed roughly: leaving it
        // on a narrow loss there has kept plain decoding for whole answers where the draft model
        // was 1.2–1.4× faster (a return's catch-up grows with the text missed, beyond what the
        // exploration budget pays for).
        if current != plain && !options[current].isLookup && asked[current] == Self.warmupSteps && !exploring { chosen = current }
        if option == plain { plainTokens += verification.producedTokens }
        let byLookup = option != plain && options[option].isLookup
        if byLookup && !verification.acceptedTokens.isEmpty { lookupDraftAccepted = true }
        lookupTokens.add(byLookup ? Double(verification.producedTokens) : 0)
        lookupTimes.add(byLookup ? time : 0)
        otherTokens.add(byLookup ? 0 : Double(verification.producedTokens))
        // At the end of a retry, an option that still loses (or drafted nothing) waits twice as
        // long; one that wins clearly is chosen at the next step.
        if exploring, let chosen, retrySteps == 0, !wins(current, over: chosen) {
            retryWait[current] = min(retryWait[current] * 2, Self.longestWait)
            retryIn[current] = retryWait[current]
        }
    }
}
