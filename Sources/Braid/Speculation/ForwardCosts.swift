// Measured costs that adaptive drafting decides by: the time of a target forward by its number of
// rows, as running averages, with a straight line through what was seen for sizes not yet seen.
import Foundation

/// Running averages of forward times by row count.
struct ForwardCosts {
    /// Weight of a new measurement in the running average.
    static let smoothing = 0.2
    private var milliseconds: [Int: Double] = [:]

    /// Adds a measurement.
    mutating func record(rows: Int, milliseconds time: Double) {
        milliseconds[rows] = milliseconds[rows].map { $0 + Self.smoothing * (time - $0) } ?? time
    }

    /// The expected time of a forward of `rows` rows; nil before any measurement.
    func estimate(rows: Int) -> Double? {
        if let known = milliseconds[rows] { return known }
        let points = milliseconds.sorted { $0.key < $1.key }
        guard let first = points.first else { return nil }
        guard points.count > 1, let last = points.last else {
            // One size seen: assume each further row adds 5% (small batches are bound by weight reads).
            return first.value * (1 + 0.05 * Double(rows - first.key))
        }
        let slope = max(0, (last.value - first.value) / Double(last.key - first.key))
        return max(first.value, first.value + slope * Double(rows - first.key))
    }
}

/// Tokens expected from a chain of `length` drafts when each is accepted with probability
/// `acceptance` until the first rejection, plus the target's own token.
func expectedTokens(length: Int, acceptance: Double) -> Double {
    guard acceptance < 1 else { return Double(length + 1) }
    return (1 - pow(acceptance, Double(length + 1))) / (1 - acceptance)
}
