// Measured costs that adaptive drafting decides by: running averages, and the time of a target
// forward by its number of rows, with straight lines between what was seen for sizes not yet seen.
import Foundation

/// An exponentially weighted running average: the plain mean of the first 1/`smoothing`
/// measurements (a prior counts as one), then each new one moves it by `smoothing` of its
/// difference — so one odd first measurement does not stand for several steps.
struct RunningAverage {
    /// Weight of a new measurement once 1/`smoothing` have been seen.
    let smoothing: Double
    /// The average; nil before any measurement when there is no prior.
    private(set) var value: Double?
    private var count: Int

    init(prior: Double? = nil, smoothing: Double = 0.2) {
        value = prior
        count = prior == nil ? 0 : 1
        self.smoothing = smoothing
    }

    /// Multiplies the average (and so its history) by `factor`.
    mutating func scale(by factor: Double) {
        value = value.map { $0 * factor }
    }

    /// Adds a measurement.
    mutating func add(_ measurement: Double) {
        count += 1
        let weight = max(smoothing, 1 / Double(count))
        value = value.map { $0 + weight * (measurement - $0) } ?? measurement
    }
}

/// The measured time of a target forward by its rows: running averages by row count (every count
/// has its own kernels, so each costs what it computes).
/// The machine's speed drifts (10–20% within a minute on a shared VM) while a drafter measures
/// mostly the one size it uses; so every measurement moves the sizes not measured by the same
/// ratio as the one measured, keeping their proportions rather than times from minutes ago.
/// Shared by the drafters of one generation (`auto` and its options), so that each sees every
/// forward of the target.
///
/// The first forward after the prompt runs cold (10–40% slower than the next ones of its size on
/// the 1.5B, 2026-12-07), and is not recorded: a size measured once, cold, may look too dear ever
/// to be chosen again, and so never be measured warm (a draft model rejected on its first draft
/// of 4 stayed at 1–2 tokens for a whole answer where 4 paid: 2.3 tokens per forward against 5.1).
public final class ForwardCosts {
    private var milliseconds: [Int: RunningAverage] = [:]
    /// Forwards still to be left out as cold.
    private var coldForwards: Int

    /// No measurements yet; the first `coldForwards` recorded are left out (none where it is 0 or less).
    public init(coldForwards: Int = 1) {
        self.coldForwards = max(0, coldForwards)
    }

    /// Adds a measurement (unless it is one of the cold first forwards).
    public func record(rows: Int, milliseconds time: Double) {
        guard coldForwards == 0 else {
            coldForwards -= 1
            return
        }
        let before = milliseconds[rows]?.value
        milliseconds[rows, default: RunningAverage()].add(time)
        guard let before, before > 0, let after = milliseconds[rows]?.value else { return }
        for other in milliseconds.keys where other != rows { milliseconds[other]?.scale(by: after / before) }
    }

    /// The expected time of a forward of `rows` rows: the measured time of that size, or a
    /// straight line between the nearest sizes measured on either side (beyond the largest, the
    /// slope of the last two; with one size seen, 5% more per row, as small batches are bound by
    /// weight reads); nil before any measurement.
    public func estimate(rows: Int) -> Double? {
        let points = milliseconds.compactMap { rows, average in average.value.map { (key: rows, value: $0) } }.sorted { $0.key < $1.key }
        if let known = points.first(where: { $0.key == rows }) { return known.value }
        guard let first = points.first, let last = points.last else { return nil }
        guard points.count > 1 else { return first.value * (1 + 0.05 * Double(rows - first.key)) }
        guard rows > first.key else { return first.value }
        let upper = points.firstIndex { $0.key > rows } ?? points.count - 1
        let (low, high) = (points[upper - 1], points[upper])
        let slope = max(0, (high.value - low.value) / Double(high.key - low.key))
        return rows > last.key ? last.value + slope * Double(rows - last.key) : low.value + slope * Double(rows - low.key)
    }
}

/// Tokens expected from a chain of `length` drafts when each is accepted with probability
/// `acceptance` until the first rejection, plus the target's own token.
func expectedTokens(length: Int, acceptance: Double) -> Double {
    guard acceptance < 1 else { return Double(length + 1) }
    return (1 - pow(acceptance, Double(length + 1))) / (1 - acceptance)
}
